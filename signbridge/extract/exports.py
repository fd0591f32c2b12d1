"""Exports of a landmarks table to formats other tools already read.

* Kaggle ISLR long format ("Google - Isolated Sign Language Recognition"): one row
  per frame × landmark, 543 rows per frame in the competition's order and dtypes,
  so notebooks and models written for that competition take our output unchanged.
* pose-format ``.pose`` (sign-language-processing toolkit), written through the
  pose-format library itself so its readers, visualiser and normalisers work on it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from signbridge.errors import SchemaError

# Competition order within a frame: face, left_hand, pose, right_hand (alphabetical), xyz only.
KAGGLE_PARTS = (("face", 468), ("left_hand", 21), ("pose", 33), ("right_hand", 21))
KAGGLE_ROWS_PER_FRAME = sum(n for _, n in KAGGLE_PARTS)  # 543


def kaggle_schema():
    import pyarrow as pa

    return pa.schema([("frame", pa.int16()), ("row_id", pa.string()), ("type", pa.string()),
                      ("landmark_index", pa.int16()), ("x", pa.float64()), ("y", pa.float64()), ("z", pa.float64())])


def _part_xyz(table, part: str, n_points: int) -> np.ndarray:
    """(frames, points, 3) float64 with NaN where the part was not detected (or dropped)."""
    from signbridge.contracts import part_to_numpy

    values, _ = part_to_numpy(table, part)
    return values[:, :n_points, :3].astype(np.float64)


def to_kaggle_table(table, source: str | None = None):
    """The landmarks table in the Kaggle ISLR long format (pyarrow Table)."""
    import pyarrow as pa

    frames = table.column("frame").to_numpy().astype(np.int64)
    if frames.size and frames.max() > np.iinfo(np.int16).max:
        raise SchemaError(f"frame index {frames.max()} does not fit the Kaggle format's int16 frame column",
                          source=source, hint="the Kaggle format is for short clips; cut the video first")
    n = frames.size
    blocks = [_part_xyz(table, part, k) for part, k in KAGGLE_PARTS]
    xyz = np.concatenate(blocks, axis=1).reshape(n * KAGGLE_ROWS_PER_FRAME, 3) if n else np.zeros((0, 3))
    types = np.concatenate([np.full(k, part, dtype=object) for part, k in KAGGLE_PARTS])
    idx = np.concatenate([np.arange(k) for _, k in KAGGLE_PARTS])
    type_col = np.tile(types, n)
    idx_col = np.tile(idx, n)
    frame_col = np.repeat(frames, KAGGLE_ROWS_PER_FRAME)
    suffix = np.array([f"-{t}-{i}" for t, i in zip(types, idx)], dtype=str)
    row_id = np.char.add(frame_col.astype(str), np.tile(suffix, n)) if n else np.zeros(0, dtype=str)
    return pa.Table.from_arrays([
        pa.array(frame_col.astype(np.int16), pa.int16()),
        pa.array(row_id, pa.string()),
        pa.array(type_col, pa.string()),
        pa.array(idx_col.astype(np.int16), pa.int16()),
        pa.array(xyz[:, 0], pa.float64()),
        pa.array(xyz[:, 1], pa.float64()),
        pa.array(xyz[:, 2], pa.float64()),
    ], schema=kaggle_schema())


def _atomic_write(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_kaggle(table, path: str | Path) -> Path:
    """Write the Kaggle long format Parquet (snappy, like the competition files)."""
    import pyarrow.parquet as pq

    kt = to_kaggle_table(table, source=str(path))
    return _atomic_write(Path(path), lambda tmp: pq.write_table(kt, tmp, compression="snappy"))


def to_pose(table):
    """A ``pose_format.Pose`` (holistic components, pixel x/y like pose-format's own extractor)."""
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    from pose_format.utils.holistic import holistic_components

    from signbridge.contracts import read_landmarks_metadata

    meta = read_landmarks_metadata(table)
    w, h = int(meta["width"]), int(meta["height"])
    # POSE_WORLD_LANDMARKS is not extracted, so the header carries the four image-space components
    comps = [c for c in holistic_components("XYZC") if c.name != "POSE_WORLD_LANDMARKS"]
    order = (("POSE_LANDMARKS", "pose", 33), ("FACE_LANDMARKS", "face", 468),
             ("LEFT_HAND_LANDMARKS", "left_hand", 21), ("RIGHT_HAND_LANDMARKS", "right_hand", 21))
    assert [c.name for c in comps] == [o[0] for o in order]
    datas, confs = [], []
    for _, part, k in order:
        xyz = _part_xyz(table, part, k)
        present = ~np.isnan(xyz).any(axis=2)
        conf = present.astype(np.float32)
        if part == "pose":
            from signbridge.contracts import part_to_numpy

            vis = np.nan_to_num(part_to_numpy(table, "pose")[0][:, :, 3], nan=0.0)
            conf = np.where(present, vis, 0.0).astype(np.float32)
        xyz = np.nan_to_num(xyz, nan=0.0)
        xyz[:, :, 0] *= w
        xyz[:, :, 1] *= h
        datas.append(xyz.astype(np.float32))
        confs.append(conf)
    data = np.concatenate(datas, axis=1)[:, None, :, :]  # frames, people, points, dims
    conf = np.concatenate(confs, axis=1)[:, None, :]
    fps = float(meta.get("sample_fps") or 0) or float(meta["fps"])
    fps = min(fps, float(meta["fps"])) if meta.get("fps") else fps
    header = PoseHeader(version=0.2, dimensions=PoseHeaderDimensions(width=w, height=h, depth=0), components=comps)
    return Pose(header, NumPyPoseBody(fps=fps, data=data, confidence=conf))


def write_pose(table, path: str | Path) -> Path:
    """Write a ``.pose`` file through pose-format."""
    pose = to_pose(table)

    def _w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            pose.write(f)

    return _atomic_write(Path(path), _w)
