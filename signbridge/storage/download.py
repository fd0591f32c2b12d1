"""Copy many objects to local files in parallel: resumable and checksum-verified.

A file already at its destination with the object's checksum is kept (so an interrupted copy
resumes where it stopped); every new file goes to ``NAME.part`` first and is renamed only once its
checksum matches the store's (S3: the ETag, an MD5 or a multipart MD5-of-MD5s; local folders:
SHA-256 of both files). A mismatch is an error, never a silently bad copy.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from signbridge.errors import StorageError
from signbridge.storage.base import ObjectInfo, Store

MIB = 1024 * 1024


@dataclass(frozen=True)
class Copied:
    uri: str
    path: str
    size: int
    fresh: bool  # False: already there with the right checksum


def _md5_parts(path: Path, part: int) -> tuple[str, int]:
    digests, n = [], 0
    with open(path, "rb") as f:
        while chunk := f.read(part):
            digests.append(hashlib.md5(chunk).digest())
            n += 1
    if n == 1:
        return digests[0].hex(), 1
    return hashlib.md5(b"".join(digests)).hexdigest() + f"-{n}", n


def etag_matches(path: Path, etag: str, part_mb: int = 16) -> bool:
    """Does ``path`` hold the bytes an S3 ETag describes? Plain ETags are the MD5; multipart ones
    ``md5(md5(part)...)-N``, tried with the part sizes SignBridge and boto3 upload with."""
    etag = etag.strip('"')
    if "-" not in etag:
        h = hashlib.md5()
        with open(path, "rb") as f:
            while chunk := f.read(MIB):
                h.update(chunk)
        return h.hexdigest() == etag
    n = int(etag.rsplit("-", 1)[1])
    size = path.stat().st_size
    guesses = {max(5, part_mb) * MIB, 8 * MIB, -(-size // n)}
    guesses |= {-(-g // MIB) * MIB for g in list(guesses)}
    return any(_md5_parts(path, g)[0] == etag for g in guesses if g > 0)


def checksum_ok(store: Store, info: ObjectInfo, path: Path) -> bool:
    if not path.is_file() or path.stat().st_size != info.size:
        return False
    if info.etag:
        part_mb = getattr(getattr(store, "settings", None), "s3_multipart_mb", 16)
        return etag_matches(path, info.etag, part_mb)
    src = getattr(store, "_path", None)
    if src is not None:  # a local folder: compare the files themselves
        from signbridge.storage.keys import sha256_file

        return sha256_file(src(info.key)) == sha256_file(path)
    return True  # a backend without checksums: the size matched


def copy_object(store: Store, info: ObjectInfo, dest: Path) -> Copied:
    """One object to ``dest``, unless it is already there intact."""
    if checksum_ok(store, info, dest):
        return Copied(store.uri(info.key), str(dest), info.size, fresh=False)
    part = dest.with_name(dest.name + ".part")
    store.get_file(info.key, part)
    if not checksum_ok(store, info, part):
        part.unlink(missing_ok=True)
        raise StorageError(f"the copy of {store.uri(info.key)} does not match the store's checksum",
                           hint="the object changed while it was copied, or the transfer was damaged; run again")
    part.replace(dest)
    return Copied(store.uri(info.key), str(dest), info.size, fresh=True)


def copy_objects(jobs: Iterable[tuple[Store, ObjectInfo, Path]], threads: int = 8) -> list[Copied]:
    """Copy every (store, object, destination) in parallel; raises the first error after all finished."""
    jobs = list(jobs)
    errors: list[BaseException] = []

    def one(job: tuple[Store, ObjectInfo, Path]) -> Copied | None:
        try:
            return copy_object(*job)
        except StorageError as e:
            errors.append(e)
            return None

    with ThreadPoolExecutor(max(1, min(threads, len(jobs) or 1))) as ex:
        done = [c for c in ex.map(one, jobs) if c is not None]
    if errors:
        raise errors[0]
    return done


def copy_prefix(store: Store, dest: Path, prefix: str = "", threads: int = 8) -> list[Copied]:
    """Every object under ``prefix`` to ``dest/<key relative to prefix>``."""
    infos = list(store.list(prefix))
    if not infos:
        raise StorageError(f"no object under {store.uri(prefix)}", hint="check the URI with `signbridge storage ls`")
    cut = len(prefix.rstrip("/")) + 1 if prefix else 0
    return copy_objects(((store, o, dest / o.key[cut:]) for o in infos), threads)
