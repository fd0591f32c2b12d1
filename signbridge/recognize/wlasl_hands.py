"""The WLASL-2000 MediaPipe Hands set (``wlasl_hands_mediapipe``) packed into one fixed-length training file.

Each sequence is trimmed to its WLASL frame range, its hand slots are put into (left, right) order
(:func:`hands.canonical_slots`), it is cut to the frames where a hand is seen (what segmentation hands the
classifier at inference) and resampled to ``n_steps`` with the inference sampler. The packed ``.npz`` is
small enough to carry to a GPU machine and is the only input training needs.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from signbridge.errors import InputError
from signbridge.recognize.frames import Frames, empty_part
from signbridge.recognize.hands import canonical_slots, sample_hands

FPS = 25.0  # WLASL's frame convention; only relative timing matters after resampling


def _trim_table(video_index: Path | None) -> dict[str, tuple[int, int]]:
    """video_id -> (frame_start, frame_end) from WLASL's index (1-based, -1 = until the end)."""
    if video_index is None or not video_index.is_file():
        return {}
    with video_index.open(newline="") as f:
        return {r["video_id"]: (int(r["frame_start"] or 1), int(r["frame_end"] or -1)) for r in csv.DictReader(f)}


def sequence_frames(seq: np.ndarray) -> Frames:
    """(T, 2, 21, 3) detection-order hands -> Frames with (left, right) hands and no pose."""
    hands = canonical_slots(seq)
    n = len(hands)
    return Frames(t_ms=np.arange(n, dtype=np.float64) * (1000.0 / FPS), pose=empty_part(n, 33, 4),
                  left=hands[:, 0].copy(), right=hands[:, 1].copy())


def hand_extent(frames: Frames) -> np.ndarray:
    """(1, 2) [start, end) ms of the frames with a hand (the whole clip when none)."""
    idx = np.flatnonzero(frames.any_hand)
    step = 1000.0 / FPS
    if idx.size == 0:
        return np.array([[0.0, len(frames) * step]])
    return np.array([[frames.t_ms[idx[0]], frames.t_ms[idx[-1]] + step]])


def pack(data_dir: str | Path, out: str | Path, n_steps: int = 32, exclude_ids: set[str] | None = None) -> Path:
    """Write ``out`` (.npz): hands (N, n_steps, 2, 21, 3) float16, class, split, signer, video_id."""
    data_dir = Path(data_dir)
    index = data_dir / "index.csv"
    if not index.is_file():
        raise InputError("index.csv not found", source=str(data_dir),
                         hint="point --data at the wlasl_hands_mediapipe folder (see ../shared/data/SOURCES.md)")
    with index.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["video_id"] not in (exclude_ids or set())]
    trims = _trim_table(data_dir.parent / "wlasl_clips" / "wlasl_v0.3_video_index.csv")
    shards: dict[str, np.ndarray] = {}
    hands = np.full((len(rows), n_steps, 2, 21, 3), np.nan, np.float16)
    for i, r in enumerate(rows):
        if r["shard"] not in shards:
            shards[r["shard"]] = np.load(data_dir / r["shard"])["frames"]
        s0, n = int(r["start"]), int(r["n_frames"])
        seq = shards[r["shard"]][s0:s0 + n].astype(np.float32)
        a, b = trims.get(r["video_id"], (1, -1))
        if b > 0 and b - a >= 8 and b <= n:
            seq = seq[max(a - 1, 0):b]
        fr = sequence_frames(seq)
        hands[i] = sample_hands(fr, hand_extent(fr), n_steps)[0].astype(np.float16)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, hands=hands, cls=np.array([int(r["wlasl2000_class_index"]) for r in rows], np.int16),
                        split=np.array([r["nslt2000_split"] for r in rows]),
                        signer=np.array([int(float(r["signer_id"])) if r["signer_id"] else -1 for r in rows], np.int32),
                        video_id=np.array([r["video_id"] for r in rows]),
                        gloss=np.array([r["gloss"] for r in rows]))
    return out


def clip_ids(clips_dir: str | Path) -> set[str]:
    """Video ids of the real WLASL clips (kept out of training: they are the real-video check)."""
    path = Path(clips_dir) / "labels.csv"
    if not path.is_file():
        return set()
    with path.open(newline="") as f:
        return {r["video_id"] for r in csv.DictReader(f)}


def gloss_names(packed: dict[str, np.ndarray]) -> list[str]:
    """The 2,000 WLASL glosses in class-index order (WLASL-N = the first N), as index.csv spells them."""
    names = {int(c): str(g) for c, g in zip(packed["cls"], packed["gloss"])}
    missing = sorted(set(range(2000)) - set(names))
    if missing:
        raise InputError(f"the packed data has no sequence of WLASL classes {missing[:5]}")
    return [names[i] for i in range(2000)]
