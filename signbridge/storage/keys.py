"""Key validation and content-addressed output keys.

Keys are relative to a store's root prefix. Anything that could leave that
prefix (``..``, absolute paths, backslashes, control characters) is refused
before it reaches S3 or the filesystem.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping

from signbridge.errors import InvalidKeyError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_key(key: str, *, allow_empty: bool = False) -> str:
    """Return the normalised key or raise InvalidKeyError."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"key must be a string, got {type(key).__name__}")
    if key == "" and allow_empty:
        return ""
    if not key or key.strip() == "":
        raise InvalidKeyError("empty key")
    if key.startswith("/"):
        raise InvalidKeyError(f"absolute key {key!r} is not allowed", hint="keys are relative to the configured prefix")
    if "\\" in key:
        raise InvalidKeyError(f"backslash in key {key!r} is not allowed")
    if _CONTROL.search(key):
        raise InvalidKeyError(f"control character in key {key!r}")
    parts = key.split("/")
    if any(p in ("..", ".") for p in parts):
        raise InvalidKeyError(f"key {key!r} contains '.' or '..'", hint="keys may not escape the configured prefix")
    if len(key.encode("utf-8")) > 1024:
        raise InvalidKeyError(f"key is longer than 1024 bytes: {key[:60]!r}...")
    # collapse duplicate slashes but keep a trailing slash (a "folder" prefix)
    trailing = key.endswith("/")
    norm = "/".join(p for p in parts if p)
    return norm + ("/" if trailing and norm else "")


def join_key(*parts: str) -> str:
    """Join key parts; each part is validated, so an absolute or '..' part is refused, not silently fixed."""
    clean = [validate_key(p).rstrip("/") for p in parts if p]
    return validate_key("/".join(c for c in clean if c))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def settings_fingerprint(params: Mapping[str, Any]) -> str:
    """Short stable hash of the settings that change an output."""
    blob = json.dumps(dict(params), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]
