"""The GPU extractor's pool: many chunks decoded by ffmpeg side by side, their frames batched on one device.

A drop-in for :class:`signbridge.extract.video.WorkerPool` (``submit(ChunkTask) -> Future[ChunkResult]``,
``drain``, ``close``), so ``extract``, ``dataset build`` and ``process`` plan, merge and check chunks with the
same code whichever extractor runs. Each active chunk is a *stream*: an ffmpeg process (a CPU core each) feeds a
small queue, and a loop takes the next frame of every stream that has one and runs them through
:class:`signbridge.extract.gpu_holistic.HolisticGPU` as one batch. A stream's frames stay in order, because
tracking needs the previous frame; the batch is across streams. On a GPU two loops share the streams, each on its
own CUDA stream, so one's host work (ROIs, tracking, smoothing) overlaps the other's models; and the readers of the
ffmpeg pipes run in processes of their own (:mod:`signbridge.extract.decode_procs`), away from the loops' GIL.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from signbridge.extract.chunks import ChunkAccumulator, ChunkResult, ChunkTask, chunk_frames, drain_queue
from signbridge.processes import usable_cores

log = logging.getLogger(__name__)

_END = object()
LAST_STATS: dict[str, Any] = {}  # the last closed pool's counters (benchmarks read them)
GPU_LOOPS = 2  # batching loops on a GPU (one on a CPU, where the host work and the models share the cores)
DECODER_PROCESSES = True  # on a GPU, the pipe readers in worker processes (on a CPU, threads: the models are the bound)


@dataclass
class _Stream:
    task: ChunkTask
    future: Future
    acc: ChunkAccumulator
    frames: "queue.Queue[Any]" = field(default_factory=lambda: queue.Queue(maxsize=4))
    state: Any = None
    error: BaseException | None = None
    ended: bool = False
    stop: bool = False  # the loop gave up on this stream: its decoder ends
    sid: int | None = None  # its id with the decoder processes when one reads it (else a thread does)


class GpuPool:
    """Chunks in, chunk results out; ``streams`` chunks in flight, each with its own ffmpeg decoder."""

    def __init__(self, device: str = "auto", *, streams: int | None = None, face: bool = True,
                 max_batch: int | None = None, precision: str = "fp32", loops: int | None = None,
                 decoder_processes: bool | None = None) -> None:
        self.engine = engine(device, face, precision)
        cores = usable_cores()
        on_gpu = self.engine.device.type == "cuda"
        # on a GPU: enough streams to fill a batch, decoders spread over the cores; on a CPU: one per core
        self.streams = int(streams or (max(32, 8 * cores) if on_gpu else max(2, cores)))
        self.loops = max(1, min(self.streams, int(loops or (GPU_LOOPS if on_gpu else 1))))
        self.max_batch = int(max_batch or -(-self.streams // self.loops))
        self.workers = self.streams  # chunk planning: long videos split so their chunks run side by side
        self.progress: queue.Queue[tuple[int, int]] = queue.Queue()
        self._waiting: queue.Queue[_Stream] = queue.Queue()
        self._wake = threading.Event()
        self._closed = False
        self.stats = {"batches": 0, "frames": 0, "gpu_s": 0.0, "idle_s": 0.0}  # seconds summed over the loops
        self._stats_lock = threading.Lock()
        self._procs = None
        if decoder_processes if decoder_processes is not None else (DECODER_PROCESSES and on_gpu):
            from signbridge.extract.decode_procs import DecoderProcesses

            self._procs = DecoderProcesses(decoder_process_count(self.streams), self._on_frame, self._on_end)
        share = [self.streams // self.loops + (k < self.streams % self.loops) for k in range(self.loops)]
        self._loop_threads = [threading.Thread(target=self._loop, args=(n, k), name=f"signbridge-gpu-extract-{k}",
                                               daemon=True) for k, n in enumerate(share)]
        for t in self._loop_threads:
            t.start()

    # -- the WorkerPool interface ------------------------------------------------------------------
    def submit(self, task: ChunkTask, progress: Callable[[int], None] | None = None) -> Future:
        """Queue a chunk; its progress goes to ``progress`` if given, else to :meth:`drain`."""
        if self._closed:
            raise RuntimeError("the GPU extractor pool is closed")
        fut: Future = Future()
        key = task.video_key

        def report(n: int) -> None:
            self.progress.put((key, n))

        self._waiting.put(_Stream(task, fut, ChunkAccumulator(task, progress or report)))
        self._wake.set()
        return fut

    def run(self, task: ChunkTask, progress: Callable[[int], None] | None = None) -> ChunkResult:
        return self.submit(task, progress).result()

    def drain(self, timeout: float = 0.0) -> list[tuple[int, int]]:
        return drain_queue(self.progress, timeout)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        for t in self._loop_threads:
            t.join()
        decoders = 0
        if self._procs is not None:
            decoders = len(self._procs._procs)
            self._procs.close()
        LAST_STATS.clear()
        LAST_STATS.update(self.stats, streams=self.streams, loops=self.loops, decoder_processes=decoders)

    def __enter__(self) -> "GpuPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- decoding ----------------------------------------------------------------------------------
    def _start_decoder(self, s: _Stream) -> None:
        if self._procs is not None:
            s.sid = self._procs.start(s.task, s)
            if s.sid is not None:
                return
        threading.Thread(target=self._decode, args=(s,), daemon=True).start()

    def _on_frame(self, s: _Stream, ordinal: int, pts: int, frame: Any, ts: Any) -> None:
        s.frames.put((ordinal, pts, frame, ts))
        self._wake.set()

    def _on_end(self, s: _Stream, err: BaseException | None, report: Any) -> None:
        if err is not None:
            s.error = err
        s.acc.report = report
        s.frames.put(_END)
        self._wake.set()

    def _decode(self, s: _Stream) -> None:
        try:
            for item in chunk_frames(s.task, s.acc.report):
                if s.stop:
                    break
                s.frames.put(item)
                self._wake.set()
        except BaseException as e:  # noqa: BLE001 — handed to the chunk's future by the loop
            s.error = e
        finally:
            s.frames.put(_END)
            self._wake.set()

    # -- the batching loop -------------------------------------------------------------------------
    def _count(self, **add: float) -> None:
        with self._stats_lock:
            for k, v in add.items():
                self.stats[k] += v

    def _loop(self, slots: int, lane: int) -> None:
        """One batching loop over up to ``slots`` streams at a time, on its own lane of the engine."""
        active: list[_Stream] = []
        while True:
            while len(active) < slots:
                try:
                    s = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if not s.future.set_running_or_notify_cancel():
                    continue
                s.state = self.engine.new_stream()
                self._start_decoder(s)
                active.append(s)
            if not active:
                if self._closed and self._waiting.empty():
                    return
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            batch, items = [], []
            for s in active:
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = s.frames.get_nowait()
                except queue.Empty:
                    continue
                if item is _END:
                    s.ended = True
                    continue
                batch.append(s)
                items.append(item)
            for s in [s for s in active if s.ended]:
                active.remove(s)
                self._settle(s)
            if not batch:
                t = time.perf_counter()
                self._wake.wait(0.02)
                self._wake.clear()
                self._count(idle_s=time.perf_counter() - t)
                continue
            t = time.perf_counter()
            try:
                results = self.engine.process([s.state for s in batch], [it[2] for it in items],
                                              [it[3] for it in items], lane=lane)
            except Exception as e:  # noqa: BLE001 — a failed batch fails its chunks, not the pool
                log.exception("GPU extractor batch failed")
                for s in batch:
                    s.error = e
                results = None
            self._count(gpu_s=time.perf_counter() - t, batches=1, frames=len(batch) if results is not None else 0)
            if self._procs is not None:  # the step has copied its frames: their slots may be refilled
                self._procs.free([s.sid for s in batch if s.sid is not None])
            if results is None:
                for s in batch:
                    active.remove(s)
                    self._drain_stream(s)
                    self._settle(s)
                continue
            for s, it, res in zip(batch, items, results):
                s.acc.add(it[0], it[1], res)

    def _drain_stream(self, s: _Stream) -> None:
        """Stop a failed stream's decoder: it blocks on a full queue until the queue is emptied."""
        s.stop = True
        if s.sid is not None:
            self._procs.stop(s.sid)
        while True:
            try:
                if s.frames.get(timeout=5) is _END:
                    return
            except queue.Empty:
                return

    def _settle(self, s: _Stream) -> None:
        if s.sid is not None:
            self._procs.release(s.sid)
        if s.error is not None:
            s.future.set_exception(s.error)
        else:
            s.future.set_result(s.acc.result())


def decoder_process_count(streams: int) -> int:
    """Half the cores, at most 8: each reads many pipes, and the ffmpeg decoders need the other cores."""
    return max(1, min(streams, usable_cores() // 2, 8))


_engines: dict[tuple[str, bool, str], Any] = {}
_pools: dict[tuple[str, bool, str], GpuPool] = {}  # keyed by (device, face, precision), as _engines
_lock = threading.Lock()


def engine(device: str = "auto", face: bool = True, precision: str = "fp32"):
    """This process's engine for a device (models loaded once: about a second, and a CUDA context)."""
    from signbridge.extract.gpu_holistic import HolisticGPU

    with _lock:
        key = (device, face, precision)
        if key not in _engines:
            _engines[key] = HolisticGPU(device, face=face, precision=precision)
        return _engines[key]


def shared_pool(device: str = "auto", face: bool = True, precision: str = "fp32") -> GpuPool:
    """A pool that lives as long as the process, for chunks that arrive one at a time (DAG units)."""
    with _lock:
        key = (device, face, precision)
        pool = _pools.get(key)
    if pool is None or pool._closed:
        pool = GpuPool(device, face=face, precision=precision)
        with _lock:
            _pools[key] = pool
    return pool
