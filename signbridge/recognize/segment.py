"""Split continuous signing into sign spans from hand activity and motion.

A frame is *active* when a hand is detected above the rest line (hands hanging
by the hips are not signing). Active runs with short gaps bridged become
candidate spans; a run longer than one sign is cut at its slowest moments
(signs are separated by holds and transitions where the hands slow down);
finally spans are padded into the neighbouring rest time, because the
annotations we evaluate against include the hands' way in and out. A video
whose only activity is shorter than ``min_span_ms`` still gets its longest
active run as a span (a short sign is not noise when it is all there is).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from signbridge.recognize.frames import Frames, body_reference


@dataclass(frozen=True)
class SegmentConfig:
    rest_line: float = 1.2  # palm lower than this (shoulder-to-nose units below the shoulders) = at rest
    bridge_ms: float = 120.0  # gaps up to this long inside signing are bridged (missed detections)
    min_span_ms: float = 500.0  # shorter active runs are noise
    max_span_ms: float = 4000.0  # longer runs are cut where the hands move slowest
    min_piece_ms: float = 500.0  # no cut leaves a piece shorter than this
    pad_ms: float = 1200.0  # reported spans grow into rest time by up to this much on each side
    classify_pad_ms: float = 200.0  # the classifier sees the active part plus this margin
    split_on: str = "speed"  # cut long runs where the hands are slowest ("speed") or lowest ("low")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SegmentConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def activity(frames: Frames, cfg: SegmentConfig, ref=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(active per frame, hand speed per frame in normalised units per second, height of the higher hand).

    Height is the higher palm's normalised y (larger = lower); a frame without hands counts as at the rest line.
    """
    cx, cy, sx, sy = body_reference(frames) if ref is None else ref
    n = len(frames)
    if n == 0:
        return np.zeros(0, bool), np.zeros(0), np.zeros(0)
    act = np.zeros(n, bool)
    speed = np.zeros(n)
    low = np.full(n, cfg.rest_line)
    dt = np.diff(frames.t_ms) / 1000.0 if n > 1 else np.ones(0)
    for hand in (frames.left, frames.right):
        c = hand[:, [0, 5, 9, 13, 17], :2].mean(axis=1)  # palm centre
        cy_n = (c[:, 1] - cy) / sy
        act |= np.nan_to_num(cy_n, nan=np.inf) < cfg.rest_line
        low = np.fmin(low, np.nan_to_num(cy_n, nan=cfg.rest_line))
        if n > 1:
            v = np.linalg.norm(np.stack([(c[1:, 0] - c[:-1, 0]) / sx, (c[1:, 1] - c[:-1, 1]) / sy], -1), axis=-1)
            v = np.nan_to_num(v / np.maximum(dt, 1e-3), nan=0.0)
            speed[1:] = np.maximum(speed[1:], v)
    return act, speed, np.minimum(low, cfg.rest_line)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[i0, i1) index runs where mask is true."""
    if mask.size == 0:
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _split(t: np.ndarray, cost: np.ndarray, i0: int, i1: int, end_ms: float, cfg: SegmentConfig) -> list[tuple[int, int]]:
    """Cut [i0, i1) at its cheapest frame until every piece is at most max_span_ms long."""
    t_end = t[i1] if i1 < len(t) else end_ms
    if t_end - t[i0] <= cfg.max_span_ms:
        return [(i0, i1)]
    tt = t[i0:i1]
    ok = (tt - t[i0] >= cfg.min_piece_ms) & (t_end - tt >= cfg.min_piece_ms)
    if not ok.any():
        return [(i0, i1)]
    j = i0 + int(np.flatnonzero(ok)[np.argmin(cost[i0:i1][ok])])
    return _split(t, cost, i0, j, end_ms, cfg) + _split(t, cost, j, i1, end_ms, cfg)


def _smooth(x: np.ndarray, t: np.ndarray, ms: float = 150.0) -> np.ndarray:
    k = max(1, int(round(ms / max(float(np.median(np.diff(t))) if len(t) > 1 else 40.0, 1.0))))
    return np.convolve(np.pad(x, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), mode="valid")


def segment(frames: Frames, cfg: SegmentConfig | None = None, ref=None) -> np.ndarray:
    """(S, 2) array of [start_ms, end_ms) sign spans, in time order; empty when nobody signs."""
    return segment_runs(frames, cfg, ref)[0]


def core_spans(frames: Frames, cfg: SegmentConfig | None = None, ref=None) -> np.ndarray:
    """The spans the classifier is given (active part plus a small margin)."""
    return segment_runs(frames, cfg, ref)[1]


def segment_runs(frames: Frames, cfg: SegmentConfig | None = None, ref=None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reported spans as in :func:`segment`, the tighter spans the classifier sees, run id of each span).

    Pieces cut from one active run share a run id.
    """
    cfg = cfg or SegmentConfig()
    n = len(frames)
    if n == 0:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, int)
    t = frames.t_ms
    step = float(np.median(np.diff(t))) if n > 1 else 66.7
    end_ms = float(t[-1] + step)
    act, speed, low = activity(frames, cfg, ref)
    # where to cut a run that is too long for one sign: where the hands drop lowest, else where they slow down
    cost = -_smooth(low, t) if cfg.split_on == "low" else _smooth(speed, t)
    runs = _runs(act)
    merged: list[list[int]] = []
    for i0, i1 in runs:  # bridge short gaps (missed detections, brief drops)
        if merged and t[i0] - t[merged[-1][1] - 1] - step <= cfg.bridge_ms:
            merged[-1][1] = i1
        else:
            merged.append([i0, i1])
    pieces: list[tuple[int, int]] = []
    run_ids: list[int] = []
    for r, (i0, i1) in enumerate(merged):
        dur = (t[i1] if i1 < n else end_ms) - t[i0]
        if dur >= cfg.min_span_ms:
            split = _split(t, cost, i0, i1, end_ms, cfg)
            pieces += split
            run_ids += [r] * len(split)
    if not pieces and merged:  # activity too brief for the noise filter: still one span, never a silent video
        r = int(np.argmax([(t[i1] if i1 < n else end_ms) - t[i0] for i0, i1 in merged]))
        pieces, run_ids = [tuple(merged[r])], [r]
    spans = np.array([[t[i0], t[i1] if i1 < n else end_ms] for i0, i1 in pieces], dtype=np.float64).reshape(-1, 2)
    return (pad_spans(spans, cfg.pad_ms, 0.0, end_ms), pad_spans(spans, cfg.classify_pad_ms, 0.0, end_ms),
            np.array(run_ids, dtype=int))


def pad_spans(spans: np.ndarray, pad: float, lo: float, hi: float) -> np.ndarray:
    """Grow spans by up to ``pad`` on each side, never past the midpoint of the gap to a neighbour."""
    if len(spans) == 0 or pad <= 0:
        return spans
    out = spans.copy()
    for i in range(len(spans)):
        left = lo if i == 0 else (spans[i - 1, 1] + spans[i, 0]) / 2
        right = hi if i == len(spans) - 1 else (spans[i, 1] + spans[i + 1, 0]) / 2
        out[i, 0] = max(spans[i, 0] - pad, left, lo)
        out[i, 1] = min(spans[i, 1] + pad, right, hi)
    return out


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def match_f1(pred: np.ndarray, truth: list[tuple[float, float]], thr: float = 0.5) -> dict[str, float]:
    """Precision/recall/F1 with one-to-one greedy matching at IoU >= thr."""
    pairs = sorted(((iou(tuple(p), t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth)), reverse=True)
    used_p, used_t, tp = set(), set(), 0
    for v, i, j in pairs:
        if v < thr:
            break
        if i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
        tp += 1
    p = tp / len(pred) if len(pred) else 0.0
    r = tp / len(truth) if truth else 0.0
    return {"tp": tp, "n_pred": len(pred), "n_true": len(truth), "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0}
