"""Object storage: one interface for ``s3://bucket/prefix`` and local folders."""
from __future__ import annotations

from typing import TYPE_CHECKING

from signbridge.storage.base import ObjectInfo, Store
from signbridge.storage.keys import join_key, sha256_file, validate_key

if TYPE_CHECKING:
    from signbridge.settings import Settings
    from signbridge.storage.target import StoreChoice

__all__ = ["ObjectInfo", "Store", "open_store", "join_key", "sha256_file", "validate_key",
           "resolve_s3_settings"]


def resolve_s3_settings(settings: "Settings", choice: "StoreChoice | None" = None) -> "Settings":
    """The S3 settings of the store ``settings`` choose (:mod:`signbridge.storage.target`): the embedded
    store's endpoint and keys when it is the one (running or not: a stopped store is named as such, never
    silently replaced by AWS), else ``settings`` as they are (an endpoint, or boto3's AWS defaults)."""
    from signbridge.storage.target import EMBEDDED, choose_store

    if (choice or choose_store(settings)).kind != EMBEDDED:
        return settings
    from signbridge.storage.embedded import EmbeddedStore

    return EmbeddedStore(settings).client_settings()


def open_store(uri: str, settings: "Settings", *, create: bool = False) -> Store:
    """A :class:`Store` rooted at ``uri`` (``s3://bucket/prefix`` or a folder path)."""
    if uri.startswith("s3://"):
        from signbridge.storage.s3 import S3Store

        return S3Store(uri, resolve_s3_settings(settings), ensure_bucket=create)
    if "://" in uri:
        from signbridge.errors import StorageError

        raise StorageError(f"unsupported storage URI {uri!r}", hint="use s3://bucket/prefix or a local folder")
    from signbridge.storage.local import LocalStore

    return LocalStore(uri)
