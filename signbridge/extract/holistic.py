"""MediaPipe Holistic adapter and the per-chunk worker.

One Holistic graph per process, fresh for every chunk so tracking state never
leaks between videos or chunks. Results leave as flat float32 arrays plus
presence masks: the only thing that crosses the process boundary.
"""
from __future__ import annotations

import contextlib
import functools
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from signbridge.extract.decode import DecodeReport, iter_frames
from signbridge.extract.timeline import sample_bin

MODEL_COMPLEXITY = 1
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


def mediapipe_version() -> str:
    from importlib.metadata import version

    return version("mediapipe")


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


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence C++ writes to fd 2 (MediaPipe's start-up notices, written before absl logging is
    initialised, so GLOG_minloglevel cannot stop them). Python exceptions still surface; what the
    native side wrote is replayed if the block fails."""
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to silence
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not ok:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))


def _flat(lms, with_visibility: bool) -> np.ndarray:
    if with_visibility:
        return np.array([(p.x, p.y, p.z, p.visibility) for p in lms.landmark], dtype=np.float32).ravel()
    return np.array([(p.x, p.y, p.z) for p in lms.landmark], dtype=np.float32).ravel()


class Holistic:
    """MediaPipe Holistic (legacy solutions API), video mode, ``model_complexity=1``."""

    def __init__(self) -> None:
        with quiet_native_stderr():
            import mediapipe as mp

            self._h = mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=MODEL_COMPLEXITY,
                                                     smooth_landmarks=True, enable_segmentation=False,
                                                     refine_face_landmarks=False)
            graph = getattr(self._h, "_graph", None)
            if graph is not None:
                graph.wait_until_idle()  # calculators open (and log) on graph threads: let them finish here
        self._first = True

    def process(self, rgb: np.ndarray, timestamp_us: int | None = None) -> dict[str, np.ndarray | None]:
        """Landmarks of one frame. ``timestamp_us`` (strictly increasing) gives the tracking and
        smoothing filters the real time between sampled frames instead of an assumed 30 fps."""
        h = self._h
        if timestamp_us is not None and hasattr(h, "_simulated_timestamp"):
            if timestamp_us > h._simulated_timestamp:  # last packet's time; must increase
                h._simulated_timestamp = timestamp_us - 33333  # process() adds its 33333 µs step back
        if self._first:  # the graph's calculators log their one-time notices on the first frame
            self._first = False
            with quiet_native_stderr():
                r = h.process(rgb)
        else:
            r = h.process(rgb)
        return {
            "face": _flat(r.face_landmarks, False) if r.face_landmarks else None,
            "pose": _flat(r.pose_landmarks, True) if r.pose_landmarks else None,
            "left_hand": _flat(r.left_hand_landmarks, False) if r.left_hand_landmarks else None,
            "right_hand": _flat(r.right_hand_landmarks, False) if r.right_hand_landmarks else None,
        }

    def close(self) -> None:
        self._h.close()

    def __enter__(self) -> "Holistic":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_progress_queue = None  # set in worker processes by init_worker


def init_worker(progress_queue) -> None:
    """Pool initializer: import MediaPipe early and remember where to report progress."""
    global _progress_queue
    _progress_queue = progress_queue
    with quiet_native_stderr():
        import mediapipe  # noqa: F401  (pay the import while the parent is still probing)


def run_chunk_in_worker(task: ChunkTask) -> ChunkResult:
    q = _progress_queue

    def report(n: int) -> None:
        if q is not None:
            q.put((task.video_key, n))

    return run_chunk(task, progress=report)


def run_chunk(task: ChunkTask, progress: Callable[[int], None] | None = None) -> ChunkResult:
    """Decode one chunk, run Holistic on every frame, keep the frames the chunk owns."""
    t0 = time.perf_counter()
    n_max = 0
    pts_list: list[int] = []
    data = {p: [] for p in PARTS}
    present = {p: [] for p in PARTS}
    warm = 0
    report = DecodeReport()
    drop = _face_drop_mask() if task.face_mode == "reduced" else None
    pending = 0
    first = None
    ordinals: list[int] = []
    last_bin = None
    with Holistic() as h:
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
            res = h.process(rgb, 1_000_000 + int(round((pts - task.origin_pts) * tb * 1e6)) if tb else None)
            if pts < task.start_pts:
                warm += 1  # tracking warm-up before the chunk's first owned frame: dropped
                continue
            pts_list.append(pts)
            ordinals.append(ordinal)
            for part in PARTS:
                v = res[part]
                if part == "face" and task.face_mode == "none":
                    v = None
                elif part == "face" and v is not None and drop is not None:
                    v = v.copy()
                    v[drop] = np.nan
                present[part].append(v is not None)
                data[part].append(v if v is not None else np.zeros(PART_WIDTH[part], dtype=np.float32))
            n_max += 1
            pending += 1
            if progress and pending >= 8:
                progress(pending)
                pending = 0
    if progress and pending:
        progress(pending)
    out = {p: (np.stack(data[p]) if data[p] else np.zeros((0, PART_WIDTH[p]), dtype=np.float32)) for p in PARTS}
    pres = {p: np.asarray(present[p], dtype=bool) for p in PARTS}
    return ChunkResult(task.video_key, task.chunk_index, np.asarray(pts_list, dtype=np.int64),
                       np.asarray(ordinals, dtype=np.int64), out, pres,
                       warmup_frames=warm, first_pts=first, seconds=time.perf_counter() - t0, report=report)
