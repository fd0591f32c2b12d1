"""Local-folder backend (same semantics as S3: atomic replace, flat keys)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from signbridge.errors import InvalidKeyError, StorageError
from signbridge.storage.base import ObjectInfo, Store


class LocalStore(Store):
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.root_uri = str(self.root)

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if p != self.root and self.root not in p.parents:
            raise InvalidKeyError(f"key {key!r} resolves outside {self.root}")
        return p

    def _atomic_write(self, key: str, writer) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                writer(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _put_file(self, key: str, path: Path, content_type: str | None) -> None:
        if not path.is_file():
            raise StorageError(f"cannot upload {path}: not a file")
        def w(f):
            with open(path, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
        self._atomic_write(key, w)

    def _put_bytes(self, key: str, data: bytes, content_type: str | None) -> None:
        self._atomic_write(key, lambda f: f.write(data))

    def _get_file(self, key: str, path: Path) -> None:
        src = self._path(key)
        if not src.is_file():
            raise StorageError(f"no object {self.uri(key)}")
        tmp = path.with_name(path.name + ".part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, path)

    def _get_bytes(self, key: str) -> bytes:
        src = self._path(key)
        if not src.is_file():
            raise StorageError(f"no object {self.uri(key)}")
        return src.read_bytes()

    def _exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        if not self.root.exists():
            return iter(())
        out = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                p = Path(dirpath) / name
                key = p.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    out.append(ObjectInfo(key=key, size=p.stat().st_size))
        return iter(sorted(out, key=lambda o: o.key))

    def integrity(self, info: ObjectInfo):
        """A folder's file is compared whole: its SHA-256 (computed when asked)."""
        from signbridge.storage.integrity import Integrity
        from signbridge.storage.keys import sha256_file

        return Integrity(size=info.size, sha256=lambda: sha256_file(self._path(info.key)))

    def _presigned_url(self, key: str, expires_s: int) -> str:
        return self._path(key).as_uri()

    def _delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextlib.contextmanager
    def _exclusive(self):
        """One conditional operation at a time on this folder: an advisory lock file beside the objects, removed
        by its holder when done (so no lock file stays in a result folder). A waiter that wakes on a removed file
        opens the new one: only the file at the path counts."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".tmp-conditional.lock"
        while True:
            f = open(path, "a+b")
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()  # the holder before us removed this file: take the lock on the current one
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()

    def _get_versioned(self, key: str) -> tuple[bytes, str] | None:
        p = self._path(key)
        if not p.is_file():
            return None
        data = p.read_bytes()
        return data, hashlib.md5(data).hexdigest()

    def _put_if(self, key: str, data: bytes, content_type: str | None, if_match: str | None) -> str | None:
        with self._exclusive():
            cur = self._get_versioned(key)
            if (cur is not None) if if_match is None else (cur is None or cur[1] != if_match):
                return None
            self._put_bytes(key, data, content_type)
            return hashlib.md5(data).hexdigest()

    def _delete_if(self, key: str, etag: str) -> bool:
        with self._exclusive():
            cur = self._get_versioned(key)
            if cur is None or cur[1] != etag:
                return False
            self._delete(key)
            return True

    def _child(self, prefix: str) -> "LocalStore":
        return LocalStore(self._path(prefix))
