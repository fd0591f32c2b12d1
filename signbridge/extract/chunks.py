"""One chunk of one video, whichever extractor runs it: what a worker is given (:class:`ChunkTask`), the frames
it sees (:func:`chunk_frames`: decoded, sampled and timed the same way for every extractor), and what it hands back
(:class:`ChunkAccumulator` → :class:`ChunkResult`)."""
from __future__ import annotations

import functools
import queue
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from signbridge.extract.decode import DecodeReport, iter_frames
from signbridge.extract.timeline import sample_bin

PART_WIDTH = {"face": 468 * 3, "pose": 33 * 4, "left_hand": 21 * 3, "right_hand": 21 * 3}
PARTS = ("face", "pose", "left_hand", "right_hand")


@functools.lru_cache(maxsize=None)
def reduced_face_points() -> tuple[int, ...]:
    """Face-mesh indices kept by ``face=reduced``: lips and eyebrows (mouthing, brow raise/furrow).

    These carry the non-manual markers of ASL grammar (questions, negation, adverbials)
    without the face outline, nose and eye geometry that identify a person.
    """
    from mediapipe.python.solutions import face_mesh_connections as fmc

    pts: set[int] = set()
    for conns in (fmc.FACEMESH_LIPS, fmc.FACEMESH_LEFT_EYEBROW, fmc.FACEMESH_RIGHT_EYEBROW):
        for a, b in conns:
            pts.update((a, b))
    return tuple(sorted(pts))


@functools.lru_cache(maxsize=None)
def _face_drop_mask() -> np.ndarray:
    keep = np.zeros(468, dtype=bool)
    keep[list(reduced_face_points())] = True
    return np.repeat(~keep, 3)


@dataclass
class ChunkTask:
    """Everything a worker needs to process one chunk of one video (picklable)."""

    video_key: int
    chunk_index: int
    path: str
    width: int
    height: int
    select: str | None
    seek_s: float | None
    start_pts: int  # first owned frame; earlier frames are warm-up
    stop_pts: int | None
    face_mode: str
    threads: int = 0
    origin_pts: int = 0  # stream start; graph timestamps are microseconds from here
    py_sample_fps: float = 0.0  # sample here instead of in ffmpeg (streams without a packet timeline)
    seconds_per_tick: float = 0.0  # stream time base (0: unknown, assume 30 fps steps)
    extractor: str = "cpu"  # cpu: MediaPipe's graph; gpu: signbridge.extract.gpu_holistic
    device: str = "auto"  # torch device of the GPU extractor
    precision: str = "fp32"  # the GPU extractor's model precision


@dataclass
class ChunkResult:
    video_key: int
    chunk_index: int
    pts: np.ndarray
    ordinals: np.ndarray  # position of each kept frame among all frames ffmpeg delivered
    data: dict[str, np.ndarray]  # part -> (n, width) float32
    present: dict[str, np.ndarray]  # part -> (n,) bool
    warmup_frames: int = 0
    first_pts: int | None = None  # first frame ffmpeg delivered (warm-up included): proves the seek landed early enough
    seconds: float = 0.0
    report: DecodeReport = field(default_factory=DecodeReport)


def chunk_frames(task: ChunkTask, report: DecodeReport):
    """The frames of one chunk a Holistic graph sees: ``(ordinal, pts, rgb, timestamp_us)``, sampled and timed
    as every extractor must (shared by the CPU graph and the GPU extractor, so both see the same frames)."""
    first = None
    last_bin = None
    for ordinal, (pts, rgb) in enumerate(iter_frames(task.path, width=task.width, height=task.height,
                                                     select=task.select, seek_s=task.seek_s,
                                                     stop_pts=task.stop_pts, report=report,
                                                     threads=task.threads)):
        if first is None:
            first = pts
        if task.py_sample_fps and report.time_base:
            b = sample_bin((pts - first) * float(report.time_base), task.py_sample_fps)
            if last_bin is not None and b <= last_bin:
                continue  # same 1/fps bin as the previous kept frame (the rule ffmpeg's select applies)
            last_bin = b
        tb = task.seconds_per_tick or (float(report.time_base) if report.time_base else 0.0)
        yield ordinal, pts, rgb, (1_000_000 + int(round((pts - task.origin_pts) * tb * 1e6)) if tb else None)


class ChunkAccumulator:
    """Collects one chunk's per-frame landmarks into a :class:`ChunkResult` (warm-up dropped, face mode applied)."""

    def __init__(self, task: ChunkTask, progress: Callable[[int], None] | None = None) -> None:
        self.task = task
        self.progress = progress
        self.report = DecodeReport()
        self.t0 = time.perf_counter()
        self.pts: list[int] = []
        self.ordinals: list[int] = []
        self.data: dict[str, list[np.ndarray]] = {p: [] for p in PARTS}
        self.present: dict[str, list[bool]] = {p: [] for p in PARTS}
        self.warm = 0
        self.first: int | None = None
        self.pending = 0
        self._drop = _face_drop_mask() if task.face_mode == "reduced" else None

    def add(self, ordinal: int, pts: int, res: dict[str, np.ndarray | None]) -> None:
        if self.first is None:
            self.first = pts
        if pts < self.task.start_pts:
            self.warm += 1  # tracking warm-up before the chunk's first owned frame: dropped
            return
        self.pts.append(pts)
        self.ordinals.append(ordinal)
        for part in PARTS:
            v = res[part]
            if part == "face" and self.task.face_mode == "none":
                v = None
            elif part == "face" and v is not None and self._drop is not None:
                v = v.copy()
                v[self._drop] = np.nan
            self.present[part].append(v is not None)
            self.data[part].append(v if v is not None else np.zeros(PART_WIDTH[part], dtype=np.float32))
        self.pending += 1
        if self.progress and self.pending >= 8:
            self.progress(self.pending)
            self.pending = 0

    def result(self) -> ChunkResult:
        if self.progress and self.pending:
            self.progress(self.pending)
            self.pending = 0
        out = {p: (np.stack(self.data[p]) if self.data[p] else np.zeros((0, PART_WIDTH[p]), dtype=np.float32))
               for p in PARTS}
        pres = {p: np.asarray(self.present[p], dtype=bool) for p in PARTS}
        task = self.task
        return ChunkResult(task.video_key, task.chunk_index, np.asarray(self.pts, dtype=np.int64),
                           np.asarray(self.ordinals, dtype=np.int64), out, pres, warmup_frames=self.warm,
                           first_pts=self.first, seconds=time.perf_counter() - self.t0, report=self.report)


def drain_queue(q: Any, timeout: float = 0.0) -> list[Any]:
    """Everything waiting in a progress queue (waiting up to ``timeout`` for the first item)."""
    out = []
    try:
        out.append(q.get(timeout=timeout) if timeout else q.get_nowait())
        while True:
            out.append(q.get_nowait())
    except queue.Empty:
        pass
    return out
