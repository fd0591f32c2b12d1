"""Hands-only sign features: what both MediaPipe Hands (training data) and Holistic (inference) give alike.

The WLASL-2000 hands data has no pose and no face, so the large-vocabulary model sees only the two hands:
their shapes (wrist-centred, palm-length-scaled, the same as fingerspelling uses), their wrist paths relative
to the hands' own centre in palm units, their speed, presence and the vector between them. Slots are
(signer's left, signer's right). A span whose more active hand is the left one is mirrored, so the model
always sees one dominant hand in the right slot: left-handed signers look like right-handed ones and a
swapped left/right labelling only matters for two-handed signs.

Training sequences and inference spans are both resampled to ``n_steps`` by :func:`sample_hands`, the same
nearest-detection rule with the same gap tolerance, so training sees what inference computes.

Feature version "2" adds where the hands are (issue #23: MOTHER at the chin, FATHER at the forehead): each
wrist relative to the nose, in the same units as the paths (4 palm lengths). The training data has no face, so
there the nose is taken where WLASL's dictionary framing puts it (:data:`FRAME_NOSE`, the median Holistic nose
of 239 WLASL videos; on the 82 of them in the training pack the real nose is a median 0.25 palm lengths lower,
interquartile range 0.7 vertically and 0.5 across). At inference Holistic's nose is used when the pose was
seen, so any framing maps onto the same body-relative channel. Version "1" (the shipped model) is unchanged;
docs/benchmarks.md has what version "2" gave on signers a model never saw.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from signbridge.recognize.frames import GAP_TOLERANCE_MS, Frames, nearest_present, step_times

CLIP = 8.0
PALM_TO_BODY = 4.0  # positions are in units of 4 palm lengths (about a shoulder width)
FRAME_NOSE = (0.5, 0.26)  # image x, y of the nose in WLASL framing (median of wlasl_holistic_landmarks_npy)
VERSIONS = ("1", "2")  # "2" = "1" + each wrist relative to the nose (location channel)


@dataclass(frozen=True)
class HandFeatureConfig:
    n_steps: int = 24
    kind: str = "hands"
    version: str = "1"

    @property
    def n_features(self) -> int:
        return 2 * (63 + 2 + 2 + 1) + 2 + (4 if self.version == "2" else 0)

    def features(self, h: np.ndarray, anchor: np.ndarray | None = None) -> np.ndarray:
        """:func:`hand_features` of this version (``anchor``: the nose per span, version "2" only)."""
        return hand_features(h, self.version, anchor)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HandFeatureConfig":
        return cls(**{k: d[k] for k in ("n_steps", "kind", "version") if k in d})


def sample_hands(frames: Frames, spans_ms: np.ndarray, n_steps: int, times: np.ndarray | None = None) -> np.ndarray:
    """(S, T, 2, 21, 3) float32 hands (left, right) at the step centres of each span; NaN = no hand near."""
    spans_ms = np.asarray(spans_ms, dtype=np.float64).reshape(-1, 2)
    q = step_times(spans_ms, n_steps) if times is None else times
    out = np.full(q.shape + (2, 21, 3), np.nan, np.float32)
    for k, (hand, present) in enumerate(((frames.left, frames.left_present), (frames.right, frames.right_present))):
        idx = nearest_present(frames.t_ms, present, q, GAP_TOLERANCE_MS)
        ok = idx >= 0
        out[:, :, k][ok] = hand[idx[ok]]
    return out


def mirror_hands(h: np.ndarray) -> np.ndarray:
    """Left-right mirror of (..., 2, 21, 3) hands in image coordinates: x -> 1 - x and the slots swapped."""
    m = h[..., ::-1, :, :].copy()
    m[..., 0] = 1.0 - m[..., 0]
    return m


def dominant_left(h: np.ndarray) -> np.ndarray:
    """(N,) True where the left hand leads a span: share of steps seen plus wrist path in palm lengths."""
    pres = ~np.isnan(h[..., 0, 0])  # (N,T,2)
    w = h[..., 0, :2]
    palm = _palm(h)
    step = np.linalg.norm(np.diff(w, axis=1), axis=-1)  # (N,T-1,2)
    path = np.nansum(step, axis=1) / palm[:, None]
    score = pres.mean(axis=1) + 0.25 * path
    return score[:, 0] > score[:, 1]


def _palm(h: np.ndarray) -> np.ndarray:
    """(N,) median palm length (wrist to middle-finger base) over a span's detected hands."""
    d = np.linalg.norm(h[..., 9, :2] - h[..., 0, :2], axis=-1).reshape(len(h), -1)
    with warnings.catch_warnings():  # all-NaN rows (no hand in the span) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        palm = np.nanmedian(d, axis=1)
    return np.where(np.isfinite(palm) & (palm > 1e-3), palm, 0.05)


def nose_anchor(frames: Frames, spans_ms: np.ndarray) -> np.ndarray:
    """(S, 2) image x, y of the nose per span: the median over the span's frames with a pose, else over the
    video's; NaN where the video has no pose (the features then use :data:`FRAME_NOSE`)."""
    spans_ms = np.asarray(spans_ms, dtype=np.float64).reshape(-1, 2)
    nose = frames.pose[:, 0, :2]
    ok = ~np.isnan(nose[:, 0])
    out = np.full((len(spans_ms), 2), np.nan, np.float32)
    if not ok.any():
        return out
    whole = np.median(nose[ok], axis=0)
    for i, (a, b) in enumerate(spans_ms):
        m = ok & (frames.t_ms >= a) & (frames.t_ms < b)
        out[i] = np.median(nose[m], axis=0) if m.any() else whole
    return out


def hand_features(h: np.ndarray, version: str = "1", anchor: np.ndarray | None = None) -> np.ndarray:
    """(N, T, 2, 21, 3) hands (left, right; NaN missing) -> (N, T, F) float32 model input.

    ``version`` "2" appends each wrist relative to ``anchor`` ((N, 2) image x, y of the nose; NaN rows or
    None: :data:`FRAME_NOSE`)."""
    if version not in VERSIONS:
        raise ValueError(f"hand feature version {version!r} is not one of {VERSIONS}")
    h = np.asarray(h, dtype=np.float32)
    N, T = h.shape[:2]
    if N == 0:
        return np.zeros((0, T, HandFeatureConfig(n_steps=T, version=version).n_features), np.float32)
    flip = dominant_left(h)
    if flip.any():
        h = h.copy()
        h[flip] = mirror_hands(h[flip])
    pres = ~np.isnan(h[..., 0, 0])  # (N,T,2)
    scale = PALM_TO_BODY * _palm(h)
    w = h[..., 0, :2]  # (N,T,2,2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(w.reshape(N, -1, 2), axis=1)  # (N,2)
    centre = np.nan_to_num(centre, nan=0.5)
    pos = (w - centre[:, None, None, :]) / scale[:, None, None, None]
    vel = np.zeros_like(pos)
    vel[:, 1:] = pos[:, 1:] - pos[:, :-1]
    rel = h - h[..., :1, :]
    palm_f = np.linalg.norm(rel[..., 9, :2], axis=-1)[..., None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = rel / np.maximum(palm_f, 1e-6)
    inter = pos[:, :, 1] - pos[:, :, 0]
    parts = [shape.reshape(N, T, -1), pos.reshape(N, T, -1), vel.reshape(N, T, -1), pres.astype(np.float32), inter]
    if version == "2":
        a = np.tile(np.asarray(FRAME_NOSE, np.float32), (N, 1))
        if anchor is not None:
            given = np.asarray(anchor, np.float32).reshape(N, 2)
            a = np.where(np.isnan(given), a, given)
        a[flip, 0] = 1.0 - a[flip, 0]  # mirrored with the hands
        parts.append(((w - a[:, None, None, :]) / scale[:, None, None, None]).reshape(N, T, -1))
    x = np.concatenate(parts, axis=-1).astype(np.float32)
    np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(x, -CLIP, CLIP, out=x)
    return x


def canonical_slots(seq: np.ndarray) -> np.ndarray:
    """(T, 2, 21, 3) hands in detection order -> (left, right) slots by image position and tracking.

    MediaPipe Hands numbers hands in detection order, which can switch inside a clip. In a camera-facing
    (unmirrored) video the signer's right hand is on the image's left. With two hands seen, the one with
    the smaller wrist x is the right hand; a lone hand goes to the side whose last position is nearer
    (before any hand has a side: right when it is in the image's left half).
    """
    seq = np.asarray(seq, dtype=np.float32)
    out = np.full(seq.shape, np.nan, np.float32)
    pres = ~np.isnan(seq[:, :, 0, 0])
    mid = 0.5
    last: list[np.ndarray | None] = [None, None]  # wrist xy of (left, right)
    for t in range(len(seq)):
        seen = [k for k in (0, 1) if pres[t, k]]
        if len(seen) == 2:
            a, b = seq[t, 0], seq[t, 1]
            left, right = (a, b) if a[0, 0] >= b[0, 0] else (b, a)
            out[t, 0], out[t, 1] = left, right
        elif len(seen) == 1:
            hnd = seq[t, seen[0]]
            w = hnd[0, :2]
            if last[0] is not None or last[1] is not None:
                d = [np.inf if p is None else float(np.linalg.norm(w - p)) for p in last]
                side = int(np.argmin(d))
            else:
                side = 0 if w[0] >= mid else 1
            out[t, side] = hnd
        for k in (0, 1):
            if not np.isnan(out[t, k, 0, 0]):
                last[k] = out[t, k, 0, :2]
    return out
