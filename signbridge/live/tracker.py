"""Landmarks of live frames: MediaPipe Holistic in tracking mode, and the recent past as :class:`Frames`.

The same Holistic adapter as batch extraction (:class:`~signbridge.extract.holistic.Holistic`:
``model_complexity=1``, video mode, so hands are tracked from frame to frame instead of searched for in
every one), fed each frame's media time so its filters see the real gaps left by dropped frames. The face
model runs only when landmarks are saved with the face kept (the recogniser reads hands and pose). Only the
last ``window_s`` seconds are kept, unless every frame is to be saved (``--save-landmarks``).
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from signbridge.extract.chunks import PART_WIDTH, reduced_face_points
from signbridge.extract.holistic import Holistic, mediapipe_version
from signbridge.recognize.frames import Frames


class Tracker:
    """Holistic over a stream of frames, with a rolling window of their landmarks."""

    def __init__(self, window_s: float = 12.0, face_mode: str = "none", keep_all: bool = False):
        from signbridge.extract.holistic import defer_plotting_imports

        defer_plotting_imports()  # mediapipe's drawing helpers would import matplotlib (and write its font cache)
        self.face_mode = face_mode
        self.holistic = Holistic(0, face=face_mode != "none")
        self.window_ms = 1000.0 * window_s
        self._rows: deque[tuple[int, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = deque()
        self.saved: list[tuple[int, float, dict[str, np.ndarray | None]]] | None = [] if keep_all else None
        self.processed = 0
        self.seconds = 0.0  # wall time spent in Holistic

    def process(self, index: int, media_s: float, rgb: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Landmarks of one frame, appended to the window; returns (t_ms, left (21, 3), right (21, 3)), NaN
        where a hand was not found."""
        t0 = time.perf_counter()
        res = self.holistic.process(rgb, 1_000_000 + int(round(media_s * 1e6)))
        self.seconds += time.perf_counter() - t0
        self.processed += 1
        t_ms = 1000.0 * media_s
        pose = _part(res["pose"], 33, 4)
        left, right = _part(res["left_hand"], 21, 3), _part(res["right_hand"], 21, 3)
        self._rows.append((index, t_ms, pose, left, right, None))
        while self._rows and self._rows[0][1] < t_ms - self.window_ms:
            self._rows.popleft()
        if self.saved is not None:
            self.saved.append((index, t_ms, self._kept(res)))
        return t_ms, left, right

    def _kept(self, res: dict) -> dict:
        out = dict(res)
        face = out.get("face")
        if self.face_mode == "none":
            out["face"] = None
        elif self.face_mode == "reduced" and face is not None:
            keep = np.zeros(468, bool)
            keep[list(reduced_face_points())] = True
            face = face.copy()
            face[np.repeat(~keep, 3)] = np.nan
            out["face"] = face
        return out

    def window(self, since_ms: float | None = None) -> Frames:
        """The kept frames (from ``since_ms`` on) as Frames (NaN where a part was not detected)."""
        rows = [r for r in self._rows if since_ms is None or r[1] >= since_ms]
        if not rows:
            z = np.zeros(0)
            return Frames(t_ms=z, pose=np.zeros((0, 33, 4), np.float32), left=np.zeros((0, 21, 3), np.float32),
                          right=np.zeros((0, 21, 3), np.float32))
        return Frames(t_ms=np.array([r[1] for r in rows], np.float64), pose=np.stack([r[2] for r in rows]),
                      left=np.stack([r[3] for r in rows]), right=np.stack([r[4] for r in rows]))

    def table(self, source: str, size: tuple[int, int], fps: float, extra: dict | None = None):
        """Every processed frame as a landmarks contract table (for ``--save-landmarks``)."""
        import hashlib

        import pyarrow as pa

        from signbridge import contracts

        rows = self.saved or []
        cols = [pa.array([r[0] for r in rows], pa.int32()), pa.array([r[1] for r in rows], pa.float64())]
        for part in ("face", "pose", "left_hand", "right_hand"):
            width = PART_WIDTH[part]
            vals = [r[2].get(part) for r in rows]
            present = np.array([v is not None for v in vals], bool)
            data = np.stack([v if v is not None else np.zeros(width, np.float32) for v in vals]) if vals \
                else np.zeros((0, width), np.float32)
            cols.append(contracts.part_to_arrow(data, present))
        table = pa.Table.from_arrays(cols, schema=contracts.landmarks_arrow_schema())
        meta = {"source_uri": source, "sha256": hashlib.sha256(source.encode()).hexdigest(), "fps": fps,
                "width": size[0], "height": size[1], "rotation": 0, "mediapipe_version": mediapipe_version(),
                "model_complexity": 1, "sample_fps": fps, "face_mode": self.face_mode, "live": True, **(extra or {})}
        return contracts.with_landmarks_metadata(table, meta)

    def close(self) -> None:
        self.holistic.close()


def _part(v: np.ndarray | None, points: int, dims: int) -> np.ndarray:
    if v is None:
        return np.full((points, dims), np.nan, np.float32)
    return np.asarray(v, np.float32).reshape(points, dims)
