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
    """``slots`` frames of up to ``slot_bytes`` each, in a file under a memory-backed folder, mapped by both sides."""

    def __init__(self, folder: str, slots: int, slot_bytes: int) -> None:
        fd, self.path = tempfile.mkstemp(prefix="signbridge-frames-", dir=folder)
        try:
            # allocated now, not on first write: a full tmpfs is then an OSError here (the pool reads this
            # stream in a thread instead), not a SIGBUS that kills the decoder process mid-frame
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, slots * slot_bytes)
            else:
                os.ftruncate(fd, slots * slot_bytes)
            self._mm = mmap.mmap(fd, slots * slot_bytes)
        except OSError:
            os.close(fd)
            os.unlink(self.path)
            raise
        os.close(fd)
        self.slots, self.slot_bytes = slots, slot_bytes
        self._buf = np.frombuffer(self._mm, dtype=np.uint8)

    def view(self, slot: int, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        return self._buf[slot * self.slot_bytes: slot * self.slot_bytes + n].reshape(shape)

    def close(self) -> None:
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
    mm = buf = None
    frames = chunk_frames(task, report)
    try:
        fd = os.open(path, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, slots * slot_bytes)
        finally:
            os.close(fd)
        buf = np.frombuffer(mm, dtype=np.uint8)
        for k, (ordinal, pts, rgb, ts) in enumerate(frames):
            if k >= slots:
                st.free.acquire()  # the engine has copied the frame this slot held
            if st.stop:
                break
            slot = k % slots
            if rgb.nbytes > slot_bytes:
                raise RuntimeError(f"frame of {rgb.shape} does not fit a {slot_bytes}-byte slot")
            buf[slot * slot_bytes: slot * slot_bytes + rgb.nbytes] = rgb.reshape(-1)
            outbox.put(("frame", sid, slot, ordinal, pts, ts, rgb.shape))
    except BaseException as e:  # noqa: BLE001 — handed to the chunk's future by the pool
        err = _portable(e)
    finally:
        frames.close()  # stops ffmpeg now if we left early
        buf = None
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass
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


class DecoderProcesses:
    """``workers`` decoder processes; ``on_frame(sid, slot, ordinal, pts, ts, shape)`` and
    ``on_end(sid, error, report)`` are called from one receiver thread, in each stream's order."""

    def __init__(self, workers: int, on_frame: Callable[..., None], on_end: Callable[..., None]) -> None:
        ctx = mp.get_context("spawn")
        self._on_frame, self._on_end = on_frame, on_end
        self._outbox = ctx.Queue()
        self._inboxes = [ctx.Queue() for _ in range(workers)]
        self._procs = [ctx.Process(target=_worker_main, args=(q, self._outbox), daemon=True,
                                   name=f"signbridge-decoder-{k}") for k, q in enumerate(self._inboxes)]
        for p in self._procs:
            p.start()
        self._where: dict[int, int] = {}  # stream -> worker
        self._load = [0] * workers
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closing = False
        self._receiver = threading.Thread(target=self._receive, name="signbridge-decoder-receiver", daemon=True)
        self._receiver.start()

    def start(self, task: Any, ring: FrameRing) -> int:
        with self._lock:
            sid = next(self._ids)
            w = min(range(len(self._load)), key=self._load.__getitem__)
            self._load[w] += 1
            self._where[sid] = w
        self._inboxes[w].put(("start", sid, task, ring.path, ring.slots, ring.slot_bytes))
        return sid

    def free(self, counts: dict[int, int]) -> None:
        by_worker: dict[int, dict[int, int]] = {}
        with self._lock:
            for sid, n in counts.items():
                if sid in self._where:
                    by_worker.setdefault(self._where[sid], {})[sid] = n
        for w, c in by_worker.items():
            self._inboxes[w].put(("free", c))

    def stop(self, sid: int) -> None:
        with self._lock:
            w = self._where.get(sid)
        if w is not None:
            self._inboxes[w].put(("stop", sid))

    def _ended(self, sid: int, err: BaseException | None, report: Any) -> None:
        with self._lock:
            w = self._where.pop(sid, None)
            if w is not None:
                self._load[w] -= 1
        if w is not None:
            self._inboxes[w].put(("forget", sid))
            self._on_end(sid, err, report)

    def _check_workers(self) -> None:
        """A dead worker ends its streams with an error (else their chunks would wait for frames forever)."""
        from signbridge.extract.decode import DecodeReport

        for w, p in enumerate(self._procs):
            if not p.is_alive():
                with self._lock:
                    lost = [sid for sid, ww in self._where.items() if ww == w]
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
                    self._on_frame(*msg[1:])
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
