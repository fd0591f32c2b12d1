"""The GPU pool's decoders in processes of their own, frames handed over in shared memory.

Why: each stream's reader reads its ffmpeg pipe in small pieces, taking the GIL for every piece. With a hundred
streams in the engine's process, the engine's threads wait in line for the GIL after every copy back from the GPU
(measured on an H100: 104 frames/s with 128 reader threads, where the engine alone ran 1,300). Here the readers run
in a few worker processes; a frame crosses in a slot of a per-stream ring in shared memory, and only
(stream, slot, timestamps) goes through a queue. The engine frees a slot once its step has copied the frame.
"""
from __future__ import annotations

import itertools
import logging
import mmap
import multiprocessing as mp
import os
import pickle
import queue
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

SLOTS = 4  # frames in flight per stream, as the thread decoder's queue holds


def shm_dir(need: int) -> str | None:
    """A folder with room for ``need`` bytes (twice over): memory-backed where there is room (containers often
    give /dev/shm 64 MiB), else the temporary folder (its pages are rewritten and unlinked long before they would
    be written back); None: decode in threads."""
    for d in ("/dev/shm", tempfile.gettempdir()):
        try:
            st = os.statvfs(d)
        except OSError:
            continue
        if os.access(d, os.W_OK) and st.f_bavail * st.f_frsize >= 2 * need:
            return d
    return None


class FrameRing:
    """``slots`` frames of up to ``slot_bytes`` each in one file, mapped by both sides: created by the pool
    (``path=None``), attached to by the decoder process (``path`` given)."""

    def __init__(self, folder: str, slots: int, slot_bytes: int, path: str | None = None) -> None:
        self.slots, self.slot_bytes = slots, slot_bytes
        self.owner = path is None
        if self.owner:
            fd, self.path = tempfile.mkstemp(prefix="signbridge-frames-", dir=folder)
        else:
            self.path, fd = path, os.open(path, os.O_RDWR)
        try:
            if self.owner:
                # allocated now, not on first write: a full tmpfs is then an OSError here (the pool reads this
                # stream in a thread instead), not a SIGBUS that kills the decoder process mid-frame
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(fd, 0, slots * slot_bytes)
                else:
                    os.ftruncate(fd, slots * slot_bytes)
            self._mm = mmap.mmap(fd, slots * slot_bytes)
        except OSError:
            if self.owner:
                os.unlink(self.path)
            raise
        finally:
            os.close(fd)
        self._buf = np.frombuffer(self._mm, dtype=np.uint8)

    def view(self, slot: int, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        return self._buf[slot * self.slot_bytes: slot * self.slot_bytes + n].reshape(shape)

    def write(self, slot: int, frame: np.ndarray) -> None:
        if frame.nbytes > self.slot_bytes:
            raise RuntimeError(f"frame of {frame.shape} does not fit a {self.slot_bytes}-byte slot")
        self.view(slot, frame.shape)[...] = frame

    def close(self) -> None:
        if self.owner:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self._buf = None  # type: ignore[assignment]
        try:
            self._mm.close()
        except BufferError:  # a frame view is still referenced: the mapping goes with it
            pass


def _portable(e: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001 — the message is what the chunk's error needs
        return RuntimeError(f"{type(e).__name__}: {e}")


class _WorkerStream:
    def __init__(self) -> None:
        self.free = threading.Semaphore(0)
        self.stop = False


def _decode_one(sid: int, task: Any, path: str, slots: int, slot_bytes: int, st: _WorkerStream, outbox: Any) -> None:
    from signbridge.extract.chunks import chunk_frames
    from signbridge.extract.decode import DecodeReport

    report = DecodeReport()
    err: BaseException | None = None
    ring = None
    frames = chunk_frames(task, report)
    try:
        ring = FrameRing("", slots, slot_bytes, path=path)
        for k, (ordinal, pts, rgb, ts) in enumerate(frames):
            if k >= slots:
                st.free.acquire()  # the engine has copied the frame this slot held
            if st.stop:
                break
            ring.write(k % slots, rgb)
            outbox.put(("frame", sid, k % slots, ordinal, pts, ts, rgb.shape))
    except BaseException as e:  # noqa: BLE001 — handed to the chunk's future by the pool
        err = _portable(e)
    finally:
        frames.close()  # stops ffmpeg now if we left early
        if ring is not None:
            ring.close()
        outbox.put(("end", sid, err, report))


def _worker_main(inbox: Any, outbox: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes us
    streams: dict[int, _WorkerStream] = {}
    threads: list[threading.Thread] = []
    while True:
        msg = inbox.get()
        if msg is None:
            break
        kind = msg[0]
        if kind == "start":
            _, sid, task, path, slots, slot_bytes = msg
            st = streams[sid] = _WorkerStream()
            t = threading.Thread(target=_decode_one, args=(sid, task, path, slots, slot_bytes, st, outbox),
                                 daemon=True)
            t.start()
            threads = [x for x in threads if x.is_alive()] + [t]
        elif kind == "free":
            for sid, n in msg[1].items():
                if sid in streams:
                    for _ in range(n):
                        streams[sid].free.release()
        elif kind == "stop":
            st = streams.get(msg[1])
            if st is not None:
                st.stop = True
                st.free.release()
        elif kind == "forget":
            streams.pop(msg[1], None)
    for st in streams.values():
        st.stop = True
        st.free.release()
    for t in threads:
        t.join(timeout=10)


@dataclass
class _Entry:
    key: Any  # the caller's handle for the stream, given back in the callbacks
    ring: FrameRing
    worker: int
    ended: bool = False


class DecoderProcesses:
    """``workers`` decoder processes and the rings their streams' frames cross in. ``on_frame(key, ordinal, pts,
    frame, ts)`` and ``on_end(key, error, report)`` are called from one receiver thread, in each stream's order;
    ``frame`` is a view into the ring, valid until the caller frees its slot."""

    def __init__(self, workers: int, on_frame: Callable[..., None], on_end: Callable[..., None]) -> None:
        ctx = mp.get_context("spawn")
        self._on_frame, self._on_end = on_frame, on_end
        self._outbox = ctx.Queue()
        self._inboxes = [ctx.Queue() for _ in range(workers)]
        self._procs = [ctx.Process(target=_worker_main, args=(q, self._outbox), daemon=True,
                                   name=f"signbridge-decoder-{k}") for k, q in enumerate(self._inboxes)]
        for p in self._procs:
            p.start()
        self._streams: dict[int, _Entry] = {}
        self._load = [0] * workers
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closing = False
        self._receiver = threading.Thread(target=self._receive, name="signbridge-decoder-receiver", daemon=True)
        self._receiver.start()

    def start(self, task: Any, key: Any) -> int | None:
        """Decode ``task`` in a worker; its stream id, or None where no ring fits (read it in a thread then)."""
        slot_bytes = task.width * task.height * 3
        folder = shm_dir(SLOTS * slot_bytes)
        if folder is None:
            return None
        try:
            ring = FrameRing(folder, SLOTS, slot_bytes)
        except OSError as e:
            log.info("no frame ring for %s (%s): read in a thread", task.path, e)
            return None
        with self._lock:  # registered before the worker hears of it: its first frame may come at once
            sid = next(self._ids)
            w = min(range(len(self._load)), key=self._load.__getitem__)
            self._load[w] += 1
            self._streams[sid] = _Entry(key, ring, w)
        self._inboxes[w].put(("start", sid, task, ring.path, SLOTS, slot_bytes))
        return sid

    def _live(self, sids) -> dict[int, list[int]]:
        """The workers of the streams still decoding, with those streams."""
        by_worker: dict[int, list[int]] = {}
        with self._lock:
            for sid in sids:
                e = self._streams.get(sid)
                if e is not None and not e.ended:
                    by_worker.setdefault(e.worker, []).append(sid)
        return by_worker

    def free(self, sids: list[int]) -> None:
        """One slot of each of these streams is copied: its decoder may refill it."""
        for w, ss in self._live(sids).items():
            self._inboxes[w].put(("free", {sid: ss.count(sid) for sid in ss}))

    def stop(self, sid: int) -> None:
        for w, ss in self._live([sid]).items():
            self._inboxes[w].put(("stop", sid))

    def release(self, sid: int) -> None:
        """The caller is done with the stream: its ring goes, and late messages for it are dropped."""
        with self._lock:
            e = self._streams.pop(sid, None)
            if e is not None:
                e.ring.close()

    def _ended(self, sid: int, err: BaseException | None, report: Any) -> None:
        with self._lock:
            e = self._streams.get(sid)
            if e is None or e.ended:
                return
            e.ended = True
            self._load[e.worker] -= 1
        self._inboxes[e.worker].put(("forget", sid))
        self._on_end(e.key, err, report)

    def _frame(self, sid: int, slot: int, ordinal: int, pts: int, ts: Any, shape: tuple[int, ...]) -> None:
        with self._lock:  # a stream released meanwhile (its ring closed) drops its late frames
            e = self._streams.get(sid)
            if e is None:
                return
            view = e.ring.view(slot, shape)
        self._on_frame(e.key, ordinal, pts, view, ts)

    def _check_workers(self) -> None:
        """A dead worker ends its streams with an error (else their chunks would wait for frames forever)."""
        from signbridge.extract.decode import DecodeReport

        for w, p in enumerate(self._procs):
            if not p.is_alive():
                with self._lock:
                    lost = [sid for sid, e in self._streams.items() if e.worker == w and not e.ended]
                for sid in lost:
                    self._ended(sid, RuntimeError(
                        f"the decoder process died (exit code {p.exitcode}) while reading this video"), DecodeReport())

    def _receive(self) -> None:
        last_check = time.monotonic()
        while True:
            try:
                msg = self._outbox.get(timeout=1.0)
            except queue.Empty:
                msg = ()
            if time.monotonic() - last_check > 2.0:
                last_check = time.monotonic()
                self._check_workers()
            if msg is None or (not msg and self._closing):
                return
            if not msg:
                continue
            try:
                if msg[0] == "frame":
                    self._frame(*msg[1:])
                else:
                    self._ended(*msg[1:])
            except Exception:  # noqa: BLE001 — one stream's message must not stop every other stream's frames
                log.exception("decoder message %s for stream %s not delivered", msg[0], msg[1])

    def close(self) -> None:
        self._closing = True
        for q in self._inboxes:
            q.put(None)
        for p in self._procs:
            p.join(timeout=15)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        self._outbox.put(None)
        self._receiver.join(timeout=10)
        for q in (*self._inboxes, self._outbox):
            q.close()
            q.join_thread()
        for sid in list(self._streams):
            self.release(sid)
