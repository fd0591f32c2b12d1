"""Video → landmarks table: probe, plan chunks, run Holistic (in process or in workers), merge.

A video is prepared in the parent (probe, frame timeline, chunk plan), its chunks
run anywhere (this process for short videos, a :class:`WorkerPool` for long ones
or for a batch), and :func:`finish` merges the chunk results by source frame
index, so every sampled frame appears exactly once and in order.
"""
from __future__ import annotations

import codecs
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from signbridge.errors import InputError, NoSignerError, SignBridgeError
from signbridge.extract.chunks import PARTS, ChunkResult, ChunkTask, drain_queue
from signbridge.extract.decode import output_size
from signbridge.extract.holistic import (MODEL_COMPLEXITY, init_worker, mediapipe_version, run_chunk,
                                         run_chunk_in_worker)
from signbridge.extract.timeline import Timeline, plan_chunks, probe_video, select_expr
from signbridge.media import MediaInfo
from signbridge.processes import usable_cores

log = logging.getLogger(__name__)

WARMUP_S = 1.0  # tracking warm-up decoded before each chunk after the first, then dropped


@dataclass
class Extraction:
    """Landmarks of one video: the validated table, its file metadata and detection stats."""

    table: Any  # pyarrow.Table
    meta: dict
    stats: dict
    seconds: float = 0.0
    chunk_seconds: list[float] | None = None  # wall-clock per chunk: for the manifest, never the file


@dataclass
class VideoJob:
    """A prepared video: what to run and what the merge needs to know."""

    key: int
    path: str
    source_uri: str
    info: MediaInfo
    timeline: Timeline
    tasks: list[ChunkTask]
    sample_fps: float
    face_mode: str
    max_side: int
    expected_frames: int
    started: float = field(default_factory=time.perf_counter)


def resolve_workers(workers: int | None, settings) -> int:
    w = settings.workers if workers is None else workers
    return max(1, int(w) if w and w > 0 else (os.cpu_count() or 1))


def prepare(path: str | Path, settings, *, source_uri: str | None = None, workers: int = 1,
            chunk_s: float | None = None, key: int = 0) -> VideoJob:
    """Probe and plan one video. Raises InputError for anything that is not a usable, complete video."""
    path = str(path)
    try:
        return _prepare(path, settings, source_uri, workers, chunk_s, key)
    except SignBridgeError as e:
        if source_uri and e.source == path:
            e.source = source_uri  # name the input the user gave (an s3:// URI), not our temporary copy
        raise


def _prepare(path: str, settings, source_uri, workers, chunk_s, key) -> VideoJob:
    try:
        info, tl = probe_video(path)  # one ffprobe: stream facts and frame timeline
    except InputError as e:
        if _looks_like_text(path):
            raise InputError(f"this is a text file, not a video (despite its name); ffprobe: {e.message}",
                             source=path, hint="check that the right file was uploaded") from None
        raise
    fps = float(settings.fps or 0.0)
    if tl.n_frames:
        end = tl.duration_s + (1.0 / info.fps if info.fps else 0.0)
        if tl.declared_duration_s > 1.0 and end < 0.9 * tl.declared_duration_s - 0.2:
            raise InputError(f"the file is truncated: its video data ends at {end:.1f} s of the "
                             f"{tl.declared_duration_s:.1f} s its header declares", source=path,
                             hint="re-copy or re-upload the complete file")
    w, h = output_size(info.width, info.height, settings.max_side)
    if tl.n_frames:
        chunks = plan_chunks(tl, workers, chunk_s=chunk_s, warmup_s=WARMUP_S)
        select = select_expr(fps, tl.start_s) if fps > 0 else None
        expected = int(tl.sample_mask(fps).sum())
    else:  # no packet timestamps (raw elementary streams): one pass, every frame decoded, sampled here
        chunks = plan_chunks(tl, 1)
        select = None
        expected = 0
    # one decoder thread per chunk when chunks run side by side (the cores belong to MediaPipe),
    # ffmpeg's own choice for a single pass or for big frames where decoding dominates
    threads = 1 if (len(chunks) > 1 or settings.extractor == "gpu") and max(info.width, info.height) <= 1280 else 0
    tasks = [ChunkTask(key, c.index, path, w, h, select, c.seek_s, c.start_pts, c.stop_pts, settings.face,
                       threads=threads, origin_pts=tl.start_pts if tl.n_frames else 0,
                       seconds_per_tick=float(tl.time_base) if tl.n_frames else 0.0,
                       py_sample_fps=0.0 if tl.n_frames else fps, extractor=settings.extractor,
                       device=settings.device, precision=settings.gpu_precision)
             for c in chunks]
    return VideoJob(key=key, path=path, source_uri=source_uri or path, info=info, timeline=tl, tasks=tasks,
                    sample_fps=fps, face_mode=settings.face, max_side=settings.max_side, expected_frames=expected)


def _looks_like_text(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if not head or b"\0" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut multibyte char at the end is fine
    except UnicodeDecodeError:
        return False
    return True


def finish(job: VideoJob, results: Iterable[ChunkResult], *, sha256: str | None = None) -> Extraction:
    """Merge chunk results into the landmarks table; check nothing was lost; compute stats."""
    import pyarrow as pa

    from signbridge.contracts import landmarks_arrow_schema, part_to_arrow, validate_landmarks, with_landmarks_metadata
    from signbridge.storage.keys import sha256_file

    results = sorted(results, key=lambda r: r.chunk_index)
    for r in results:
        damage = r.report.damage or []
        if any("partial file" in d for d in damage):
            raise InputError("the file is truncated: the decoder ran out of data", source=job.source_uri,
                             hint="re-copy or re-upload the complete file")
    pts = np.concatenate([r.pts for r in results]) if results else np.zeros(0, np.int64)
    if pts.size == 0:
        detail = next((d for r in results for d in (r.report.damage or [])), None)
        raise InputError("no frame could be decoded" + (f" ({detail})" if detail else ""), source=job.source_uri,
                         hint="is this a complete video file?")
    tl = job.timeline
    if tl.n_frames:
        frames = tl.index_of(pts)
        ts = tl.relative_ms(pts)
        tb = tl.time_base
    else:
        frames = np.concatenate([r.ordinals for r in results])
        tb = next((r.report.time_base for r in results if r.report.time_base), None)
        ts = (pts - pts[0]) * (float(tb) * 1000.0 if tb else 1.0)
    if pts.size > 1 and not (np.diff(frames) > 0).all():
        raise InputError("frame timestamps are not increasing after merge (damaged timestamps?)", source=job.source_uri)
    if job.expected_frames and pts.size < 0.9 * job.expected_frames - 2:
        detail = next((d for r in results for d in (r.report.damage or [])), "decoder stopped early")
        raise InputError(f"only {pts.size} of {job.expected_frames} frames could be decoded ({detail})",
                         source=job.source_uri, hint="the file is damaged; re-encode or re-upload it")
    data = {p: np.concatenate([r.data[p] for r in results]) for p in PARTS}
    present = {p: np.concatenate([r.present[p] for r in results]) for p in PARTS}
    schema = landmarks_arrow_schema()
    cols = [pa.array(frames.astype(np.int32), type=pa.int32()), pa.array(ts.astype(np.float64), type=pa.float64())]
    for p in ("face", "pose", "left_hand", "right_hand"):
        cols.append(part_to_arrow(data[p], present[p]))
    table = pa.Table.from_arrays(cols, schema=schema)
    n = int(pts.size)
    stats = {"frames": n, **{p: round(float(present[p].mean()), 4) for p in ("pose", "face", "left_hand", "right_hand")}}
    info = job.info
    proc_w, proc_h = job.tasks[0].width, job.tasks[0].height
    meta = {
        "source_uri": job.source_uri,
        "sha256": sha256 or sha256_file(job.path),
        "fps": round(info.fps, 6),
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "mediapipe_version": mediapipe_version(),
        "model_complexity": MODEL_COMPLEXITY,
        "sample_fps": job.sample_fps,
        "face_mode": job.face_mode,
        "detection": stats,
        "max_side": job.max_side,
        "frame_width": proc_w,
        "frame_height": proc_h,
        "duration_s": round(info.duration_s, 6),
        "source_frames": tl.n_frames or None,
        "start_time_s": round(tl.start_s, 6) if tl.n_frames else 0.0,
        "time_base": str(tb) if tb else None,
        "variable_frame_rate": info.variable_frame_rate,
        "chunks": len(results),
        "warmup_frames": int(sum(r.warmup_frames for r in results)),
        "extractor": extractor_name(job.tasks[0]),
    }
    table = with_landmarks_metadata(table, meta)
    meta = validate_landmarks(table, source=job.source_uri)
    if stats["pose"] == 0 and stats["left_hand"] == 0 and stats["right_hand"] == 0:
        err = NoSignerError(f"no signer detected in any of {n} sampled frames", source=job.source_uri,
                            hint="is a person visible and lit? landmarks need the upper body in view")
        err.stats = stats  # type: ignore[attr-defined]
        err.meta = meta  # type: ignore[attr-defined]
        raise err
    return Extraction(table=table, meta=meta, stats=stats, seconds=time.perf_counter() - job.started,
                      chunk_seconds=[round(r.seconds, 2) for r in results])


def extractor_name(task: ChunkTask) -> str:
    """Provenance: which code computed the landmarks (the models are always the mediapipe wheel's)."""
    from signbridge import __version__

    if task.extractor != "gpu":
        return f"signbridge {__version__} (mediapipe cpu graph)"
    from signbridge.extract.gpu_holistic import VERSION
    from signbridge.extract.gpu_pool import engine

    return f"signbridge {__version__} (gpu-holistic {VERSION}, {engine(task.device, task.face_mode != 'none', task.precision).describe()})"


def make_pool(settings, workers: int):
    """The pool that runs chunks: the GPU extractor's, MediaPipe worker processes, or None (this process)."""
    if settings.extractor == "gpu":
        from signbridge.extract.gpu_pool import GpuPool

        return GpuPool(settings.device, face=settings.face != "none", streams=settings.gpu_streams or None,
                       precision=settings.gpu_precision)
    return WorkerPool(workers) if workers > 1 else None


def check_seek(job: VideoJob, r: ChunkResult) -> bool:
    """True if the chunk's decode started at or before its first owned frame (no frame skipped)."""
    task = job.tasks[r.chunk_index]
    return task.seek_s is None or (r.first_pts is not None and r.first_pts <= task.start_pts)


def settle_chunk(job: VideoJob, r: ChunkResult) -> ChunkResult:
    """``r``, or the chunk re-read from the file start when its seek landed after its first frame.

    The one place that repairs an overshot seek, for every runner (in process, pool, DAG unit)."""
    if check_seek(job, r):
        return r
    import dataclasses

    log.warning("%s: chunk %d seek landed after its first frame; re-reading it from the start",
                job.path, r.chunk_index)
    return run_chunk(dataclasses.replace(job.tasks[r.chunk_index], seek_s=None))


def run_job_chunk(job: VideoJob, i: int) -> ChunkResult:
    """Chunk ``i`` of a prepared video, in this process."""
    return settle_chunk(job, run_chunk(job.tasks[i]))


class WorkerPool:
    """Worker processes, one MediaPipe graph each, shared by every video of a run.

    ``spawn`` start method: MediaPipe and ffmpeg reader threads do not survive ``fork``.
    Progress flows back through a queue so a bar can move while chunks run.
    """

    def __init__(self, workers: int):
        ctx = multiprocessing.get_context("spawn")
        self.workers = workers
        # with a worker on every core, each graph runs on one thread (see holistic._solution_class)
        self.graph_threads = 1 if workers >= usable_cores() else 0
        self.progress: Any = ctx.Queue()
        self._ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                                       initargs=(self.progress, self.graph_threads))

    def submit(self, task: ChunkTask) -> Future:
        return self._ex.submit(run_chunk_in_worker, task)

    def drain(self, timeout: float = 0.0) -> list[tuple[int, int]]:
        return drain_queue(self.progress, timeout)

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)
        self.progress.close()
        self.progress.join_thread()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _ProgressPump:
    """Moves worker progress messages onto callbacks from a background thread."""

    def __init__(self, pool: WorkerPool, on_progress: Callable[[int, int], None]):
        self._pool, self._cb = pool, on_progress
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, n in self._pool.drain(timeout=0.2):
                self._cb(key, n)

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=2)
        for key, n in self._pool.drain():
            self._cb(key, n)


def run_job(job: VideoJob, pool: WorkerPool | None, progress_cb: Callable[[int], None] | None = None
            ) -> list[ChunkResult]:
    """Run all chunks of a prepared video; redo a chunk from the file start if its seek overshot."""
    if pool is None:
        results = [run_chunk(t, progress=progress_cb) for t in job.tasks]
    else:
        results = [f.result() for f in [pool.submit(t) for t in job.tasks]]
    return [settle_chunk(job, r) for r in results]


def extract_video(path: str | Path, settings, source_uri: str | None = None, workers: int | None = None,
                  progress: bool = False, *, chunk_s: float | None = None, pool: WorkerPool | None = None
                  ) -> Extraction:
    """Extract MediaPipe Holistic landmarks from one video into a contract-valid table.

    Raises InputError for unusable files and NoSignerError when no person is found.
    Long videos are split into chunks run by ``workers`` processes (``pool`` to reuse one).
    """
    t0 = time.perf_counter()
    settings = settings.validate()
    n_workers = resolve_workers(workers, settings) if pool is None else pool.workers
    job = prepare(path, settings, source_uri=source_uri, workers=n_workers, chunk_s=chunk_s)
    job.started = t0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=job.expected_frames or None, unit="frame", desc=Path(str(path)).name[:40], leave=False)
    cb = bar.update if bar is not None else None
    own_pool = None
    try:
        if pool is None and (len(job.tasks) > 1 and n_workers > 1 or settings.extractor == "gpu"):
            own_pool = pool = make_pool(settings, min(n_workers, len(job.tasks)))
        pump = _ProgressPump(pool, lambda _k, n: cb(n)) if (pool is not None and cb) else None
        try:
            results = run_job(job, pool, cb)
        finally:
            if pump:
                pump.stop()
    finally:
        if own_pool is not None:
            own_pool.close()
        if bar is not None:
            bar.close()
    return finish(job, results)
