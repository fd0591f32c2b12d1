"""Stored intermediates are checked before a later stage uses them; found damage is redone, not trusted.

The step that writes an intermediate (landmarks, gloss track, transcript, captions, narration) records
its size and sha256 on the video's state (``VideoState.sums``), which travels to the next task. The step
that reads it compares the stored object's bytes with that record. A mismatch (a truncated or replaced
object, a bad disk under the store) is :class:`DamagedError`; :func:`load_checked` then deletes the
object, has the step that made it recompute it, records that on the video (``repaired``, shown in the
manifest's note) and reads it again. An object written by an earlier run carries no record on this
run's state: it is recorded when first read (its content is still checked by the reader's parser).
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable

from signbridge.errors import SignBridgeError
from signbridge.pipeline.state import VideoState

log = logging.getLogger(__name__)


class DamagedError(SignBridgeError):
    """A stored intermediate does not match the size and checksum recorded when it was written."""

    permanent = False


def digest(data: bytes) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def digest_file(path: Path) -> dict:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            n += len(block)
    return {"size": n, "sha256": h.hexdigest()}


def record(st: VideoState, name: str, data: bytes | Path) -> None:
    """Note what was just stored as ``name`` of ``st``'s folder (its size and sha256)."""
    st.sums[name] = digest_file(data) if isinstance(data, Path) else digest(data)


def check(st: VideoState, name: str, found: dict, uri: str) -> None:
    """Raise :class:`DamagedError` when ``found`` (size, sha256 of the stored bytes) differs from the record."""
    want = st.sums.get(name)
    if want is None:
        st.sums[name] = found  # written by an earlier run: from now on it is held to what we read
        return
    if found != want:
        what = (f"{found['size']} bytes stored, {want['size']} written" if found["size"] != want["size"]
                else "its sha256 differs from the one recorded when it was written")
        raise DamagedError(f"stored intermediate is damaged ({what})", source=uri,
                           hint="it is recomputed from its inputs")


def get_bytes(st: VideoState, folder, name: str) -> bytes:
    data = _read(folder, name, lambda: folder.get_bytes(name))
    check(st, name, digest(data), folder.uri(name))
    return data


def get_file(st: VideoState, folder, name: str, dest: Path) -> Path:
    path = _read(folder, name, lambda: folder.get_file(name, dest))
    check(st, name, digest_file(path), folder.uri(name))
    return path


def _read(folder, name: str, fn: Callable):
    """``fn()``; an intermediate that is gone is damage too, recomputed like a truncated one. (A try killed
    between deleting a damaged object and storing its recomputation leaves it gone for the retry; found
    by the fault soak: a worker killed while it re-extracted truncated landmarks.)"""
    from signbridge.errors import StorageError

    try:
        return fn()
    except StorageError as e:
        if folder.exists(name):
            raise
        raise DamagedError("stored intermediate is damaged (gone from the store)", source=folder.uri(name),
                           hint="it is recomputed from its inputs") from e


def load_checked(st: VideoState, folder, name: str, read: Callable[[], object],
                 redo: Callable[[], None]) -> object:
    """``read()`` (which reads ``name`` through :func:`get_bytes`/:func:`get_file`); on damage the object
    is deleted, ``redo()`` recomputes it (the step that made it, for this video) and it is read again."""
    try:
        return read()
    except DamagedError as e:
        log.warning("%s; recomputing it", e)
        folder.delete(name)
        st.sums.pop(name, None)
        for out, fname in _outputs_named(name):
            st.outputs.pop(out, None)
        redo()
        if not st.active:
            raise SignBridgeError(f"{name} was damaged in the store and recomputing it failed: {st.error}",
                                  source=folder.uri(name)) from None
        st.repaired.append(f"{name} ({e.message.removeprefix('stored intermediate is damaged ')})")
        return read()


def _outputs_named(fname: str) -> list[tuple[str, str]]:
    from signbridge.pipeline.layout import RESULT_FILES

    return [(k, v) for k, v in RESULT_FILES.items() if v == fname]


