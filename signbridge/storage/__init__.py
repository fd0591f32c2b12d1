"""Object storage: one interface for ``s3://bucket/prefix`` and local folders."""
from __future__ import annotations

from typing import TYPE_CHECKING

from signbridge.storage.base import ObjectInfo, Store
from signbridge.storage.keys import join_key, sha256_file, validate_key

if TYPE_CHECKING:
    from signbridge.settings import Settings

__all__ = ["ObjectInfo", "Store", "open_store", "join_key", "sha256_file", "validate_key",
           "resolve_s3_settings"]


def resolve_s3_settings(settings: "Settings") -> "Settings":
    """Fill endpoint and credentials from the embedded store when none are configured."""
    if settings.s3_endpoint:
        return settings
    from signbridge.storage.embedded import EmbeddedStore

    emb = EmbeddedStore(settings)
    if not emb.status().running:
        return settings  # plain AWS defaults (env/instance profile); boto3 resolves them
    creds = emb.credentials()
    return settings.replace(s3_endpoint=emb.endpoint, s3_access_key=creds["access_key"],
                            s3_secret_key=creds["secret_key"])


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
