"""Copy many objects to local files in parallel: resumable and checksum-verified.

A file already at its destination that matches the object is kept (so an interrupted copy resumes where it
stopped); every new file goes to ``NAME.part`` first and is renamed only once it matches the object: its size
always, its content by the best checksum the store gives (:mod:`signbridge.storage.integrity`: a flexible
checksum, else the ETag as an MD5 with the object's real part sizes; a folder's SHA-256). A mismatch is an
error, never a silently bad copy; an object whose content cannot be checked (an SSE-KMS ETag) is kept after
its size matched, with a warning.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from signbridge.errors import StorageError
from signbridge.storage.base import ObjectInfo, Store
from signbridge.storage.integrity import check_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Copied:
    uri: str
    path: str
    size: int
    fresh: bool  # False: already there, matching the object
    checked: str = "size"  # what the copy was compared by: "crc32", "md5", "sha256", "size", ...
    warning: str | None = None  # why only the size could be checked


def copy_object(store: Store, info: ObjectInfo, dest: Path) -> Copied:
    """One object to ``dest``, unless it is already there intact."""
    integ = store.integrity(info)
    if dest.is_file():
        v = check_file(dest, integ)
        if v.ok:
            return Copied(store.uri(info.key), str(dest), info.size, False, v.how, v.warning)
    part = dest.with_name(dest.name + ".part")
    store.get_file(info.key, part)
    v = check_file(part, integ)
    if not v.ok:
        part.unlink(missing_ok=True)
        raise StorageError(f"the copy of {store.uri(info.key)} does not match the store's "
                           f"{'size' if v.how == 'size' else v.how + ' checksum'}",
                           hint="the object changed while it was copied, or the transfer was damaged; run again")
    if v.warning:
        log.warning("%s: only its size (%d bytes) was checked: %s", store.uri(info.key), info.size, v.warning)
    part.replace(dest)
    return Copied(store.uri(info.key), str(dest), info.size, True, v.how, v.warning)


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
