"""Is a local file the object a store holds? The size always; the content by the best checksum the store gives.

In order: a local folder's SHA-256; an S3 flexible checksum (CRC32, SHA-1, SHA-256, and CRC32C / CRC64NVME where
``awscrt`` is installed), whole-object or composite (the checksum of the parts' checksums, "-N"); the ETag, an
MD5 for a plain upload and the MD5 of the parts' MD5s for a multipart one, with the object's real part sizes
(asked of the store, never guessed). An ETag that is not an MD5 (SSE-KMS or SSE-C objects, a multipart object
whose parts the store will not list) proves nothing about the bytes: the size is checked, a warning says the
content could not be, and the copy is kept. Before, such intact files failed as "does not match".
"""
from __future__ import annotations

import base64
import hashlib
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CHUNK = 1 << 20
_MD5 = re.compile(r"[0-9a-f]{32}")
_NOT_MD5_ENCRYPTION = ("aws:kms", "aws:kms:dsse", "SSE-C")  # their ETags are not the MD5 of the bytes


@dataclass(frozen=True)
class Integrity:
    """What a store says about an object's bytes."""

    size: int
    etag: str | None = None
    checksum: tuple[str, str] | None = None  # (algorithm, base64 value, "-N" when composite), e.g. ("crc32", "jFgZYw==-3")
    encryption: str | None = None  # "aws:kms", "aws:kms:dsse", "SSE-C", "AES256"
    sha256: Callable[[], str] | None = None  # a local folder: the hex SHA-256 of its file
    part_sizes: Callable[[], list[int] | None] = field(default=lambda: None)  # a multipart object's layout


@dataclass(frozen=True)
class Verdict:
    ok: bool
    how: str  # what was compared: "sha256", "crc32", "md5", "multipart md5 (3 parts)", "size"
    warning: str | None = None  # why only the size could be checked


def _crt(name: str):
    try:
        from awscrt import checksums
    except ImportError:
        return None
    return getattr(checksums, name, None)


def _crc(fn, width: int):
    """A running-CRC function as a hashlib-like object factory."""
    class _H:
        def __init__(self):
            self.v = 0

        def update(self, b: bytes) -> None:
            self.v = fn(b, self.v)

        def digest(self) -> bytes:
            return self.v.to_bytes(width, "big")
    return _H


def hasher(algorithm: str):
    """A factory of hashlib-like objects for an S3 checksum algorithm, or None when it cannot be computed here."""
    if algorithm == "crc32":
        return _crc(lambda b, v: zlib.crc32(b, v), 4)
    if algorithm in ("sha1", "sha256"):
        return getattr(hashlib, algorithm)
    if algorithm == "md5":
        return hashlib.md5
    crt = _crt(algorithm)  # crc32c, crc64nvme: awscrt (boto3's optional CRT extra)
    return _crc(crt, 8 if algorithm == "crc64nvme" else 4) if crt else None


def _digest_range(f, length: int, factory) -> bytes:
    h = factory()
    while length > 0:
        chunk = f.read(min(CHUNK, length))
        if not chunk:
            break
        h.update(chunk)
        length -= len(chunk)
    return h.digest()


def whole_digest(path: Path, factory) -> bytes:
    with open(path, "rb") as f:
        return _digest_range(f, path.stat().st_size, factory)


def composite_digest(path: Path, factory, part_sizes: list[int]) -> bytes:
    """S3's composite checksum: the checksum of the concatenated raw checksums of the parts."""
    with open(path, "rb") as f:
        parts = b"".join(_digest_range(f, n, factory) for n in part_sizes)
    h = factory()
    h.update(parts)
    return h.digest()


def _split(value: str) -> tuple[str, int | None]:
    body, _, n = value.partition("-")
    return body, int(n) if n.isdigit() else None


def check_file(path: Path, integ: Integrity) -> Verdict:
    """Does ``path`` hold the bytes ``integ`` describes? A mismatch is ``ok=False``; what cannot be checked
    beyond the size is ``ok=True`` with a warning."""
    size = path.stat().st_size if path.is_file() else -1
    if size != integ.size:
        return Verdict(False, "size")
    if integ.sha256 is not None:
        with open(path, "rb") as f:
            return Verdict(hashlib.file_digest(f, "sha256").hexdigest() == integ.sha256(), "sha256")
    why = "the store gives no checksum"
    if integ.checksum:
        verdict = _check_flexible(path, integ)
        if isinstance(verdict, Verdict):
            return verdict
        why = verdict
    etag = (integ.etag or "").strip('"').lower()
    if etag:
        if integ.encryption in _NOT_MD5_ENCRYPTION:
            return Verdict(True, "size", f"the ETag of an {integ.encryption} object is not an MD5 and {why}")
        body, n = _split(etag)
        if not _MD5.fullmatch(body):
            return Verdict(True, "size", f"the ETag {etag!r} is not an MD5 and {why}")
        if n is None:
            return Verdict(whole_digest(path, hashlib.md5).hex() == body, "md5")
        parts = integ.part_sizes()
        if not parts or len(parts) != n or sum(parts) != size:
            return Verdict(True, "size", f"the multipart ETag needs the object's part sizes, which the store did not "
                                         f"give, and {why}")
        return Verdict(composite_digest(path, hashlib.md5, parts).hex() == body, f"multipart md5 ({n} parts)")
    return Verdict(True, "size", why)


def _check_flexible(path: Path, integ: Integrity) -> Verdict | str:
    """The verdict of the flexible checksum, or why it could not be computed (then the ETag may still tell)."""
    assert integ.checksum is not None
    algorithm, value = integ.checksum
    factory = hasher(algorithm)
    if factory is None:
        return f"its {algorithm.upper()} checksum needs awscrt (pip install awscrt)"
    body, n = _split(value)
    if n is None:  # a whole-object checksum (a plain upload, or a multipart one of type FULL_OBJECT)
        return Verdict(base64.b64encode(whole_digest(path, factory)).decode() == body, algorithm)
    parts = integ.part_sizes()
    if not parts or len(parts) != n:
        return f"its composite {algorithm.upper()} checksum needs the part sizes, which the store did not give"
    ok = base64.b64encode(composite_digest(path, factory, parts)).decode() == body
    return Verdict(ok, f"{algorithm} of {n} parts")
