"""Normalised landmark features: the one module training and inference share.

Every span is resampled to a fixed number of steps on its own time line (by
timestamps, not frame counts), so 25 fps WLASL files, 30 fps Kaggle files and
our 15 fps extraction look alike to the model. Coordinates are centred on the
shoulders and scaled per signer (x by shoulder width, y by the nose-to-shoulder
height, both medians over the whole video), so camera distance, position and
aspect ratio fall away. Hand shapes are also given wrist-centred and scaled by
palm length, which is the same normalisation the fingerspelling classifier uses.
Missing parts become zeros plus a presence flag, so the model works with no face
(WLASL ``.npy``) or with one hand out of frame.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from signbridge.recognize.frames import GAP_TOLERANCE_MS, Frames, body_reference, nearest_present, step_times

POSE_SUBSET = (0, 2, 5, 9, 10, 11, 12, 13, 14, 15, 16)  # nose, eyes, mouth, shoulders, elbows, wrists
POSE_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
              (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
FACE_PAIRS = ((61, 291), (70, 300), (105, 334), (107, 336), (33, 263), (133, 362), (159, 386), (145, 374))
FACE_CENTRE = (0, 17, 13, 14, 1, 152, 10)
FACE_SUBSET = tuple(i for p in FACE_PAIRS for i in p) + FACE_CENTRE  # mouth, brows, eyes, nose, chin
CLIP = 8.0


@dataclass(frozen=True)
class FeatureConfig:
    n_steps: int = 24
    use_face: bool = False
    version: str = "1"
    canonical_hand: bool = False  # mirror spans whose left hand leads, so the model sees one dominant hand
    hand_body: str = "points"  # hands in body coordinates (and their motion): all 21 "points", or the "wrist" only

    @property
    def n_body_points(self) -> int:
        return 1 if self.hand_body == "wrist" else 21

    @property
    def n_features(self) -> int:
        hb = self.n_body_points
        n = len(POSE_SUBSET) * 2 + 2 * (hb * 2 + 21 * 3) + (len(POSE_SUBSET) * 2 + 2 * hb * 2) + 3 + 1
        if self.use_face:
            n += len(FACE_SUBSET) * 2 + 1
        return n

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureConfig":
        return cls(**{k: d[k] for k in ("n_steps", "use_face", "version", "canonical_hand", "hand_body") if k in d})


# --------------------------------------------------------------------------- normalisation

def hand_shape(hand: np.ndarray) -> np.ndarray:
    """Wrist-centred, palm-length-scaled hand points (..., 21, 3); NaN stays NaN. Shared with fingerspelling."""
    hand = np.asarray(hand, dtype=np.float32)
    rel = hand - hand[..., :1, :]
    palm = np.linalg.norm(rel[..., 9, :2], axis=-1)[..., None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = rel / np.maximum(palm, 1e-6)
    return out


def _gather(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = arr[np.clip(idx, 0, max(arr.shape[0] - 1, 0))] if arr.shape[0] else np.full(idx.shape + arr.shape[1:], np.nan,
                                                                                       np.float32)
    out = out.astype(np.float32, copy=True)
    out[idx < 0] = np.nan
    return out


def span_features(frames: Frames, spans_ms: np.ndarray, cfg: FeatureConfig,
                  times: np.ndarray | None = None, ref: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """(S, T, F) float32 features for S spans of one video."""
    spans_ms = np.asarray(spans_ms, dtype=np.float64).reshape(-1, 2)
    S, T = spans_ms.shape[0], cfg.n_steps
    if S == 0:
        return np.zeros((0, T, cfg.n_features), np.float32)
    q = step_times(spans_ms, T) if times is None else times
    cx, cy, sx, sy = body_reference(frames) if ref is None else ref
    t = frames.t_ms

    def norm_xy(a: np.ndarray) -> np.ndarray:
        return np.stack([(a[..., 0] - cx) / sx, (a[..., 1] - cy) / sy], axis=-1)

    pose = _gather(frames.pose, nearest_present(t, frames.pose_present, q, GAP_TOLERANCE_MS))
    pose_xy = norm_xy(pose[:, :, POSE_SUBSET, :2])  # (S,T,11,2)
    blocks = [pose_xy.reshape(S, T, -1)]
    vel_parts = [pose_xy]
    flags = [~np.isnan(pose[:, :, 0, 0])]
    for hand, present in ((frames.left, frames.left_present), (frames.right, frames.right_present)):
        h = _gather(hand, nearest_present(t, present, q, GAP_TOLERANCE_MS))
        body = norm_xy(h[:, :, :cfg.n_body_points])  # (S,T,21 or 1,2)
        shape = hand_shape(h)  # (S,T,21,3)
        blocks += [body.reshape(S, T, -1), shape.reshape(S, T, -1)]
        vel_parts.append(body)
        flags.append(~np.isnan(h[:, :, 0, 0]))
    pos = np.concatenate([v.reshape(S, T, -1) for v in vel_parts], axis=-1)
    vel = np.zeros_like(pos)
    vel[:, 1:] = pos[:, 1:] - pos[:, :-1]
    blocks.append(vel)
    blocks.append(np.stack(flags, axis=-1).astype(np.float32))
    dur = np.log1p((spans_ms[:, 1] - spans_ms[:, 0]) / 1000.0).astype(np.float32)
    blocks.append(np.broadcast_to(dur[:, None, None], (S, T, 1)))
    if cfg.use_face:
        if frames.face is None:
            blocks.append(np.zeros((S, T, len(FACE_SUBSET) * 2 + 1), np.float32))
        else:
            fp = ~np.isnan(frames.face[:, 1, 0])
            f = _gather(frames.face[:, FACE_SUBSET, :2], nearest_present(t, fp, q, GAP_TOLERANCE_MS))
            i_l, i_r = FACE_SUBSET.index(33), FACE_SUBSET.index(263)
            eye = np.linalg.norm(f[:, :, i_l] - f[:, :, i_r], axis=-1)[..., None, None]
            nose = f[:, :, FACE_SUBSET.index(1)][:, :, None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                fl = (f - nose) / np.maximum(eye, 1e-6)
            blocks += [fl.reshape(S, T, -1), (~np.isnan(f[:, :, 0, 0]))[..., None].astype(np.float32)]
    x = np.concatenate(blocks, axis=-1).astype(np.float32)
    np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(x, -CLIP, CLIP, out=x)
    if cfg.canonical_hand:
        left_leads = _hand_score(vel_parts[1]) > _hand_score(vel_parts[2])
        if left_leads.any():
            plain = FeatureConfig(**{**cfg.to_dict(), "canonical_hand": False})
            x[left_leads] = span_features(mirror(frames), spans_ms[left_leads], plain, times=q[left_leads],
                                          ref=(1.0 - cx, cy, sx, sy))
    return x


def _hand_score(body: np.ndarray) -> np.ndarray:
    """(S,) how much a hand leads a span: share of steps it is seen plus its wrist path (shoulder widths)."""
    w = body[:, :, 0, :]  # (S,T,2) wrist in body coordinates
    seen = ~np.isnan(w[..., 0])
    step = np.linalg.norm(np.diff(w, axis=1), axis=-1)
    path = np.nansum(step, axis=1)
    return seen.mean(axis=1) + path


# --------------------------------------------------------------------------- augmentation (training only)

def mirror(frames: Frames) -> Frames:
    """Left-right mirror: x -> 1 - x and left/right swapped (a left-handed signer looks like a right-handed one)."""
    pose = frames.pose.copy()
    pose[..., 0] = 1.0 - pose[..., 0]
    a, b = np.array(POSE_PAIRS).T
    pose[:, a], pose[:, b] = pose[:, b].copy(), pose[:, a].copy()
    left, right = frames.right.copy(), frames.left.copy()
    left[..., 0] = 1.0 - left[..., 0]
    right[..., 0] = 1.0 - right[..., 0]
    face = None
    if frames.face is not None:
        face = frames.face.copy()
        face[..., 0] = 1.0 - face[..., 0]
        a, b = np.array(FACE_PAIRS).T
        face[:, a], face[:, b] = face[:, b].copy(), face[:, a].copy()
    return Frames(t_ms=frames.t_ms, pose=pose, left=left, right=right, face=face, meta=frames.meta)


def augment(frames: Frames, rng: np.random.Generator, strength: float = 1.0) -> Frames:
    """Mirror, rotation/scale/shift jitter, frame dropout and landmark dropout on raw coordinates."""
    if rng.random() < 0.5:
        frames = mirror(frames)
    cx, cy, sx, sy = body_reference(frames)
    ang = np.deg2rad(rng.uniform(-15, 15) * strength)
    scale = rng.uniform(0.85, 1.15) ** strength * np.array([rng.uniform(0.9, 1.1) ** strength, 1.0])
    shift = rng.normal(0, 0.03 * strength, 2)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)

    def tf(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        a = a.copy()
        xy = (a[..., :2] - [cx, cy]) * scale
        a[..., :2] = xy @ rot.T + [cx, cy] + shift
        return a

    pose, left, right, face = tf(frames.pose), tf(frames.left), tf(frames.right), tf(frames.face)
    n = len(frames)
    keep = rng.random(n) >= rng.uniform(0, 0.25 * strength)
    keep[[0, -1]] = True
    for hand in (left, right):
        drop = rng.random(n) < 0.08 * strength
        hand[drop] = np.nan
        pts = rng.random(hand.shape[:2]) < 0.03 * strength
        pts[:, 0] = False  # the wrist anchors the hand shape
        hand[pts] = np.nan
    t = frames.t_ms
    out = Frames(t_ms=t[keep], pose=pose[keep], left=left[keep], right=right[keep],
                 face=None if face is None else face[keep], meta=frames.meta)
    return out


def random_warp(rng: np.random.Generator, n_steps: int, strength: float = 1.0) -> np.ndarray:
    """Monotone time warp of step centres in [0, 1] with a random crop (time stretch augmentation)."""
    a = rng.uniform(0, 0.12 * strength)
    b = 1 - rng.uniform(0, 0.12 * strength)
    u = (np.arange(n_steps) + 0.5) / n_steps
    g = rng.uniform(-0.3, 0.3) * strength  # speed change inside the span
    w = u + g * u * (1 - u)
    w = (w - w.min()) / (w.max() - w.min()) * (1 - 1 / n_steps) + 0.5 / n_steps
    return a + (b - a) * w
