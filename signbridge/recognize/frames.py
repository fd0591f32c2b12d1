"""Landmark sequences as plain numpy arrays, read from every layout we train or infer on.

Recognition works on :class:`Frames` (NaN = not detected) so the same feature
code serves our Parquet contract, the WLASL ``.npy`` files and the Kaggle ISLR
parquet. The converters turn the research layouts into contract tables, which
is how tests and tools feed them through the real inference path.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.errors import InputError, SchemaError

N_FACE, N_POSE, N_HAND = 468, 33, 21
GAP_TOLERANCE_MS = 200.0  # a part missing for up to this long is filled from the nearest detection
Y_RATIO = 0.93  # median (shoulder-mid y - nose y) / shoulder width in the WLASL set; keeps y roughly isotropic


@dataclass
class Frames:
    """One video's landmarks; coordinates are MediaPipe-normalised image x, y (z as MediaPipe gives it)."""

    t_ms: np.ndarray  # (N,) float64, strictly increasing
    pose: np.ndarray  # (N, 33, 4) float32: x, y, z, visibility; NaN rows where no pose
    left: np.ndarray  # (N, 21, 3) float32; NaN where the signer's left hand was not detected
    right: np.ndarray  # (N, 21, 3)
    face: np.ndarray | None = None  # (N, 468, 3) or None when the source has no face
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.t_ms.shape[0])

    @property
    def left_present(self) -> np.ndarray:
        return ~np.isnan(self.left[:, 0, 0])

    @property
    def right_present(self) -> np.ndarray:
        return ~np.isnan(self.right[:, 0, 0])

    @property
    def pose_present(self) -> np.ndarray:
        return ~np.isnan(self.pose[:, 0, 0])

    @property
    def any_hand(self) -> np.ndarray:
        return self.left_present | self.right_present

    @property
    def duration_ms(self) -> float:
        if len(self) == 0:
            return 0.0
        step = float(np.median(np.diff(self.t_ms))) if len(self) > 1 else 0.0
        return float(self.t_ms[-1] - self.t_ms[0] + step)

    def slice(self, i0: int, i1: int) -> "Frames":
        return replace(self, t_ms=self.t_ms[i0:i1], pose=self.pose[i0:i1], left=self.left[i0:i1],
                       right=self.right[i0:i1], face=None if self.face is None else self.face[i0:i1])


def empty_part(n: int, points: int, dims: int) -> np.ndarray:
    return np.full((n, points, dims), np.nan, dtype=np.float32)


# --------------------------------------------------------------------------- body frame and time sampling

def body_reference(frames: Frames) -> tuple[float, float, float, float]:
    """(cx, cy, sx, sy): shoulder centre and per-axis scale, medians over the video (one signer per video)."""
    p = frames.pose
    ok = ~np.isnan(p[:, 11, 0]) & ~np.isnan(p[:, 12, 0])
    if ok.sum() >= 1:
        sh = p[ok][:, [11, 12], :2]
        mid = sh.mean(axis=1)
        cx, cy = np.median(mid, axis=0)
        sx = float(np.median(np.abs(sh[:, 0, 0] - sh[:, 1, 0])))
        nose_ok = ok & ~np.isnan(p[:, 0, 0])
        sy = float(np.median(mid[nose_ok[ok]][:, 1] - p[nose_ok, 0, 1])) / Y_RATIO if nose_ok.any() else sx
        if sx > 1e-3 and sy > 1e-3:
            return float(cx), float(cy), sx, sy
    # no usable pose: centre on the hands, scale by palm length (a shoulder width is about 3.5 palms)
    hands = np.concatenate([frames.left, frames.right], axis=0)
    ok = ~np.isnan(hands[:, 0, 0])
    if not ok.any():
        return 0.5, 0.5, 0.25, 0.25
    h = hands[ok]
    palm = float(np.median(np.linalg.norm(h[:, 9, :2] - h[:, 0, :2], axis=1)))
    c = np.median(h[:, :, :2].reshape(-1, 2), axis=0)
    s = max(3.5 * palm, 1e-2)
    return float(c[0]), float(c[1] - s), s, s


def nearest_present(t: np.ndarray, present: np.ndarray, q: np.ndarray, tol: float) -> np.ndarray:
    """Index of the frame nearest each query time where the part is present (-1 if none within tol)."""
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return np.full(q.shape, -1, dtype=np.int64)
    tv = t[idx]
    pos = np.searchsorted(tv, q)
    lo = np.clip(pos - 1, 0, tv.size - 1)
    hi = np.clip(pos, 0, tv.size - 1)
    pick = np.where(np.abs(tv[hi] - q) < np.abs(tv[lo] - q), hi, lo)
    out = idx[pick]
    out[np.abs(tv[pick] - q) > tol] = -1
    return out


def step_times(spans_ms: np.ndarray, n_steps: int, warp: np.ndarray | None = None) -> np.ndarray:
    """(S, T) sample times: step centres of each [start, end) span (optionally warped, for augmentation)."""
    spans_ms = np.asarray(spans_ms, dtype=np.float64).reshape(-1, 2)
    u = (np.arange(n_steps) + 0.5) / n_steps if warp is None else warp
    u = np.broadcast_to(u, (spans_ms.shape[0], n_steps))
    return spans_ms[:, :1] + (spans_ms[:, 1:2] - spans_ms[:, :1]) * u


# --------------------------------------------------------------------------- contract tables

def frames_from_table(table, source: str | None = None, validate: bool = True) -> Frames:
    """Contract table -> Frames. Raises SchemaError (naming ``source``) when the table breaks the contract."""
    from signbridge import contracts

    meta = contracts.validate_landmarks(table, source) if validate else contracts.read_landmarks_metadata(table, source)
    t = table.column("timestamp_ms").to_numpy().astype(np.float64)
    pose, _ = contracts.part_to_numpy(table, "pose")
    left, _ = contracts.part_to_numpy(table, "left_hand")
    right, _ = contracts.part_to_numpy(table, "right_hand")
    face_col = table.column("face")
    face = None if face_col.null_count == len(face_col) else contracts.part_to_numpy(table, "face")[0]
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise SchemaError("timestamps are not strictly increasing", source=source,
                          hint="re-extract the video; the table is corrupt")
    return Frames(t_ms=t, pose=pose, left=left, right=right, face=face, meta=dict(meta))


def table_from_frames(frames: Frames, meta: dict[str, Any]):
    """Frames -> contract table (with metadata); used by the research-data converters."""
    import pyarrow as pa

    from signbridge import contracts

    schema = contracts.landmarks_arrow_schema()
    n = len(frames)

    def col(arr: np.ndarray | None, points: int, dims: int):
        if arr is None:
            return pa.nulls(n, type=pa.list_(pa.float32()))
        return contracts.part_to_arrow(arr.reshape(n, points, dims))

    frame_idx = np.asarray(frames.meta.get("frame_index", np.arange(n)), dtype=np.int32)
    arrays = [pa.array(frame_idx, pa.int32()), pa.array(frames.t_ms.astype(np.float64), pa.float64()),
              col(frames.face, N_FACE, 3), col(frames.pose, N_POSE, 4), col(frames.left, N_HAND, 3),
              col(frames.right, N_HAND, 3)]
    table = pa.Table.from_arrays(arrays, schema=schema)
    return contracts.with_landmarks_metadata(table, meta)


def read_landmarks_file(path: str | Path, settings=None):
    """A contract Parquet file (local path or s3:// URI) -> pyarrow Table; clear errors for unreadable files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = str(path)
    try:
        if p.startswith("s3://"):
            from signbridge.settings import load_settings
            from signbridge.storage import open_store

            prefix, _, key = p[5:].partition("/")
            if not key:
                raise InputError("an s3:// landmarks URI must name an object", source=p)
            store = open_store(f"s3://{prefix}", settings or load_settings())
            return pq.read_table(pa.BufferReader(store.get_bytes(key)))
        if not Path(p).is_file():
            raise InputError("landmarks file not found", source=p, hint="check the path")
        return pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"not a readable Parquet file ({str(e).splitlines()[0]})", source=p,
                         hint="pass the .parquet written by `signbridge extract`") from None


# --------------------------------------------------------------------------- WLASL .npy (pose, left, right)

def frames_from_npy(path: str | Path, fps: float = 25.0) -> Frames:
    """WLASL holistic ``.npy``: (n, 300) = 75 points x (x, y, z, v): 33 pose, 21 left, 21 right; zeros = missing."""
    try:
        arr = np.load(path).astype(np.float32)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read .npy ({e})", source=str(path)) from None
    if arr.ndim != 2 or arr.shape[1] != 300:
        raise InputError(f"expected shape (frames, 300), got {arr.shape}", source=str(path),
                         hint="WLASL holistic layout: 33 pose + 21 left + 21 right points x (x, y, z, v)")
    pts = arr.reshape(-1, 75, 4)
    n = pts.shape[0]
    pose = pts[:, :33, :].copy()
    left = pts[:, 33:54, :3].copy()
    right = pts[:, 54:75, :3].copy()
    for part in (pose, left, right):
        missing = np.all(part[:, :, :2] == 0, axis=(1, 2))
        part[missing] = np.nan
    t = np.arange(n, dtype=np.float64) * (1000.0 / fps)
    return Frames(t_ms=t, pose=pose, left=left, right=right, face=None,
                  meta={"fps": fps, "source_uri": str(path)})


# --------------------------------------------------------------------------- Kaggle ISLR parquet

def frames_from_kaggle(path: str | Path, fps: float = 30.0) -> Frames:
    """Kaggle ISLR ``asl-signs`` parquet (long format: frame, type, landmark_index, x, y, z)."""
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path, columns=["frame", "type", "landmark_index", "x", "y", "z"])
    except Exception as e:  # pyarrow raises several types for bad files
        raise InputError(f"not a Kaggle ISLR landmarks parquet ({str(e).splitlines()[0]})", source=str(path)) from None
    frame = t.column("frame").to_numpy().astype(np.int64)
    typ = np.asarray(t.column("type").to_pylist())
    idx = t.column("landmark_index").to_numpy().astype(np.int64)
    xyz = np.stack([t.column(c).to_numpy(zero_copy_only=False).astype(np.float32) for c in ("x", "y", "z")], 1)
    uniq = np.unique(frame)
    row = np.searchsorted(uniq, frame)
    n = len(uniq)
    face = empty_part(n, N_FACE, 3)
    pose = empty_part(n, N_POSE, 4)
    left = empty_part(n, N_HAND, 3)
    right = empty_part(n, N_HAND, 3)
    for name, arr in (("face", face), ("left_hand", left), ("right_hand", right)):
        m = typ == name
        arr[row[m], idx[m]] = xyz[m]
    m = typ == "pose"
    pose[row[m], idx[m], :3] = xyz[m]
    pose[row[m], idx[m], 3] = np.where(np.isnan(xyz[m, 0]), np.nan, 1.0)
    for arr in (face, pose, left, right):  # a part is missing when any point is NaN (Kaggle writes NaN rows)
        arr[np.any(np.isnan(arr[:, :, 0]), axis=1)] = np.nan
    tms = (uniq - uniq[0]).astype(np.float64) * (1000.0 / fps)
    return Frames(t_ms=tms, pose=pose, left=left, right=right, face=face,
                  meta={"fps": fps, "source_uri": str(path), "frame_index": uniq})


def research_meta(source_uri: str, fps: float, sha256: str | None = None) -> dict[str, Any]:
    """Metadata for tables converted from research layouts (no video at hand: size and versions unknown)."""
    import hashlib

    return {"source_uri": source_uri, "sha256": sha256 or hashlib.sha256(source_uri.encode()).hexdigest(),
            "fps": fps, "width": 0, "height": 0, "rotation": 0, "mediapipe_version": "unknown",
            "model_complexity": -1, "sample_fps": 0, "face_mode": "none", "converted_from": "research"}


def npy_to_table(path: str | Path, fps: float = 25.0):
    """WLASL ``.npy`` -> contract table (face null), so research sequences run through real inference."""
    import hashlib

    f = frames_from_npy(path, fps)
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return table_from_frames(f, research_meta(str(path), fps, sha))
