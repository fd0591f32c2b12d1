"""One storage interface for S3 prefixes and local folders.

Both backends are rooted at a prefix; every key is validated against it, so a
stage can never write outside the configured output location. Writes are
atomic: S3 publishes an object only when its PUT (or multipart completion)
succeeds, and the local backend writes a temporary file and renames it.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from signbridge.storage.keys import join_key, validate_key

if TYPE_CHECKING:
    from signbridge.storage.integrity import Integrity


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the store root
    size: int
    etag: str | None = None


class Store(abc.ABC):
    """A place to read and write objects under a root prefix."""

    root_uri: str

    # --- to implement -----------------------------------------------------
    @abc.abstractmethod
    def _put_file(self, key: str, path: Path, content_type: str | None) -> None: ...
    @abc.abstractmethod
    def _put_bytes(self, key: str, data: bytes, content_type: str | None) -> None: ...
    @abc.abstractmethod
    def _get_file(self, key: str, path: Path) -> None: ...
    @abc.abstractmethod
    def _get_bytes(self, key: str) -> bytes: ...
    @abc.abstractmethod
    def _exists(self, key: str) -> bool: ...
    @abc.abstractmethod
    def _list(self, prefix: str) -> Iterator[ObjectInfo]: ...
    @abc.abstractmethod
    def _delete(self, key: str) -> None: ...

    # --- public, validated ------------------------------------------------
    def put_file(self, key: str, path: str | Path, content_type: str | None = None) -> str:
        key = validate_key(key)
        self._put_file(key, Path(path), content_type)
        return self.uri(key)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        key = validate_key(key)
        self._put_bytes(key, bytes(data), content_type)
        return self.uri(key)

    def get_file(self, key: str, path: str | Path) -> Path:
        key = validate_key(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._get_file(key, path)
        return path

    def get_bytes(self, key: str) -> bytes:
        return self._get_bytes(validate_key(key))

    def exists(self, key: str) -> bool:
        return self._exists(validate_key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._list(validate_key(prefix, allow_empty=True))

    def delete(self, key: str) -> None:
        self._delete(validate_key(key))

    def delete_prefix(self, prefix: str) -> int:
        n = 0
        for obj in list(self.list(prefix)):
            self._delete(obj.key)
            n += 1
        return n

    def integrity(self, info: ObjectInfo) -> "Integrity":
        """What the store says about the bytes of a listed object, for checking a copy
        (:func:`signbridge.storage.integrity.check_file`). Here: its size and ETag as listed."""
        from signbridge.storage.integrity import Integrity

        return Integrity(size=info.size, etag=info.etag)

    def presigned_url(self, key: str, expires_s: int = 900) -> str:
        """A URL that reads ``key`` without credentials (ffprobe, a browser): presigned for S3, ``file://``
        for a folder. Callers never reach into a backend's client for this."""
        return self._presigned_url(validate_key(key), int(expires_s))

    @abc.abstractmethod
    def _presigned_url(self, key: str, expires_s: int) -> str: ...

    def uri(self, key: str = "") -> str:
        key = validate_key(key, allow_empty=True)
        return self.root_uri.rstrip("/") + ("/" + key if key else "")

    def child(self, prefix: str) -> "Store":
        """A store rooted at ``root/prefix`` (validated, so it stays inside)."""
        return self._child(join_key(prefix))

    @abc.abstractmethod
    def _child(self, prefix: str) -> "Store": ...
