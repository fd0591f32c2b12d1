"""The geometry and filters between Holistic's models, as MediaPipe's calculators compute them, vectorised over
many streams (numpy, float64): SSD anchors, rect transformations and projections, ROI tracking checks, and the
one-euro filter. Pure functions of arrays; :mod:`signbridge.extract.gpu_holistic` runs the models around them."""
from __future__ import annotations

import functools
import math

import numpy as np

HAND_ROI_SUBSET = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]


# --------------------------------------------------------------------------------------------- anchors
@functools.lru_cache(maxsize=None)
def ssd_anchors(input_size: int, strides: tuple[int, ...]) -> np.ndarray:
    """SsdAnchorsCalculator with fixed anchor size, one aspect ratio plus one interpolated: (n, 2) centres."""
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = 2 * (j - i)
        fm = math.ceil(input_size / strides[i])
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


# --------------------------------------------------------------------------------------------- geometry
def normalize_radians(a: np.ndarray) -> np.ndarray:
    return a - 2 * np.pi * np.floor((a + np.pi) / (2 * np.pi))


def rotation(p0: np.ndarray, p1: np.ndarray, target: float) -> np.ndarray:
    """Rotation (radians) that turns the p0→p1 vector (pixels) to ``target``."""
    return normalize_radians(target - np.arctan2(-(p1[:, 1] - p0[:, 1]), p1[:, 0] - p0[:, 0]))


def transform_rect(r: np.ndarray, wh: np.ndarray, scale: float, shift_y: float = 0.0) -> np.ndarray:
    """RectTransformationCalculator on normalised rects (xc, yc, w, h, rot): shift, square_long, scale."""
    r = r.copy()
    W, H = wh[:, 0], wh[:, 1]
    c, s = np.cos(r[:, 4]), np.sin(r[:, 4])
    r[:, 0] += (-H * r[:, 3] * shift_y * s) / W
    r[:, 1] += (H * r[:, 3] * shift_y * c) / H
    long = np.maximum(r[:, 2] * W, r[:, 3] * H)
    r[:, 2] = long / W * scale
    r[:, 3] = long / H * scale
    return r


def alignment_rect(p0: np.ndarray, p1: np.ndarray, wh: np.ndarray, target: float) -> np.ndarray:
    """AlignmentPointsRectsCalculator: centre p0, side 2·|p1-p0| in pixels (points normalised)."""
    a, b = p0 * wh, p1 * wh
    box = 2 * np.hypot(*(b - a).T)
    return np.stack([p0[:, 0], p0[:, 1], box / wh[:, 0], box / wh[:, 1], rotation(a, b, target)], axis=1)


def bbox_rect(pts: np.ndarray, wh: np.ndarray, i0: int, i1: int, target: float) -> np.ndarray:
    """DetectionsToRects over the axis-aligned box of ``pts`` (n, k, 2) normalised, rotation from i0 to i1."""
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    rot = rotation(pts[:, i0] * wh, pts[:, i1] * wh, target)
    return np.stack([(lo[:, 0] + hi[:, 0]) / 2, (lo[:, 1] + hi[:, 1]) / 2, hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1],
                     rot], axis=1)


def project(lm: np.ndarray, r: np.ndarray) -> np.ndarray:
    """LandmarkProjection: crop-normalised (n, k, 3) landmarks into the image (z scaled by the rect width)."""
    x, y = lm[..., 0] - 0.5, lm[..., 1] - 0.5
    c, s = np.cos(r[:, 4])[:, None], np.sin(r[:, 4])[:, None]
    out = lm.copy()
    out[..., 0] = r[:, 0:1] + (c * x - s * y) * r[:, 2:3]
    out[..., 1] = r[:, 1:2] + (s * x + c * y) * r[:, 3:4]
    out[..., 2] = lm[..., 2] * r[:, 2:3]
    return out


def hand_rect_from_landmarks(lm: np.ndarray, wh: np.ndarray) -> np.ndarray:
    """HandLandmarksToRectCalculator + transform (scale 2, shift_y -0.1) on (n, 21, 3) normalised landmarks."""
    pts = lm[:, HAND_ROI_SUBSET, :2]
    px = pts * wh[:, None, :]
    p0 = lm[:, 0, :2] * wh
    p1 = ((lm[:, 5, :2] + lm[:, 13, :2]) / 2 + lm[:, 9, :2]) / 2 * wh
    rot = rotation(p0, p1, np.pi / 2)
    c_aa = (pts.min(axis=1) + pts.max(axis=1)) / 2 * wh
    c, s = np.cos(-rot)[:, None], np.sin(-rot)[:, None]
    d = px - c_aa[:, None, :]
    rx, ry = c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]
    lo = np.stack([rx.min(1), ry.min(1)], axis=1)
    hi = np.stack([rx.max(1), ry.max(1)], axis=1)
    mid = (lo + hi) / 2
    cb, sb = np.cos(rot), np.sin(rot)
    centre = c_aa + np.stack([cb * mid[:, 0] - sb * mid[:, 1], sb * mid[:, 0] + cb * mid[:, 1]], axis=1)
    size = hi - lo
    r = np.stack([centre[:, 0] / wh[:, 0], centre[:, 1] / wh[:, 1], size[:, 0] / wh[:, 0], size[:, 1] / wh[:, 1],
                  rot], axis=1)
    return transform_rect(r, wh, 2.0, -0.1)


def face_rect_from_landmarks(lm: np.ndarray, wh: np.ndarray) -> np.ndarray:
    return transform_rect(bbox_rect(lm[:, :, :2], wh, 33, 263, 0.0), wh, 1.5)


def tracking_keeps(prev: np.ndarray, recrop: np.ndarray, prev_lm: np.ndarray, wh: np.ndarray,
                   degrees: float, translation: float, scale: float, margin: float) -> np.ndarray:
    """RoiTrackingCalculator's checks: may the previous frame's ROI be used instead of the re-crop's?"""
    W, H = wh[:, 0], wh[:, 1]
    dd = np.degrees(prev[:, 4]) - np.degrees(recrop[:, 4])
    dd = (dd + 180.0) % 360.0 - 180.0
    ok = np.abs(dd) <= degrees
    phi = -recrop[:, 4]
    c, s = np.cos(phi), np.sin(phi)
    dx, dy = (prev[:, 0] - recrop[:, 0]) * W, (prev[:, 1] - recrop[:, 1]) * H
    rx, ry = c * dx - s * dy, s * dx + c * dy
    rw, rh = recrop[:, 2] * W, recrop[:, 3] * H
    ok &= (np.abs(rx) <= rw * translation) & (np.abs(ry) <= rh * translation)
    ok &= (np.abs(prev[:, 2] * W - rw) <= rw * scale) & (np.abs(prev[:, 3] * H - rh) <= rh * scale)
    lx = (prev_lm[..., 0] - recrop[:, 0:1]) * W[:, None]
    ly = (prev_lm[..., 1] - recrop[:, 1:2]) * H[:, None]
    qx, qy = c[:, None] * lx - s[:, None] * ly, s[:, None] * lx + c[:, None] * ly
    half_w, half_h = (rw * (1 + margin) / 2)[:, None], (rh * (1 + margin) / 2)[:, None]
    ok &= ((np.abs(qx) < half_w) & (np.abs(qy) < half_h)).all(axis=1)
    return ok


def track(prev: list[np.ndarray | None], roi: np.ndarray, wh: np.ndarray, rect_from_landmarks, *requirements) -> None:
    """Hand and face tracking: where a stream had landmarks last frame and the ROI they give passes the checks
    (``tracking_keeps`` with ``requirements``) against this frame's re-crop ROI, use it (``roi`` changed in place)."""
    k = np.flatnonzero([p is not None for p in prev])
    if len(k):
        plm = np.stack([prev[j] for j in k])
        prect = rect_from_landmarks(plm, wh[k])
        keep = tracking_keeps(prect, roi[k], plm, wh[k], *requirements)
        roi[k[keep]] = prect[keep]


# --------------------------------------------------------------------------------------------- smoothing
class OneEuro:
    """MediaPipe's OneEuroFilter over an array of values (one filter per element, one shared clock)."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self.freq = 30.0
        self.last_t = 0
        self.x_raw: np.ndarray | None = None
        self.x_out: np.ndarray | None = None
        self.dx_out: np.ndarray | None = None

    @staticmethod
    def apply(filters: list["OneEuro"], t_ns: np.ndarray, scale: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Each filter (same parameters) on its row of ``values`` (m, k, 3) at its time and value scale: the
        scalar filter of MediaPipe, evaluated for many streams in one set of numpy operations."""
        f0 = filters[0]
        m = len(filters)
        last_t = np.array([f.last_t for f in filters], dtype=np.int64)
        freq = np.array([f.freq for f in filters], dtype=np.float64)
        run = last_t < t_ns  # a filter that has seen this time (or a later one) passes the value through
        new_freq = np.where((last_t != 0) & (t_ns != 0), 1e9 / np.maximum(t_ns - last_t, 1), freq)
        started = np.array([f.x_raw is not None for f in filters])
        zeros = np.zeros(values.shape[1:], dtype=np.float32)
        x_raw = np.stack([f.x_raw if f.x_raw is not None else zeros for f in filters])
        x_out = np.stack([f.x_out if f.x_out is not None else zeros for f in filters])
        dx_out = np.stack([f.dx_out if f.dx_out is not None else zeros for f in filters])
        fq = new_freq.reshape(m, 1, 1)
        sc = np.asarray(scale, dtype=np.float64).reshape(m, 1, 1)
        st = started.reshape(m, 1, 1)
        dv = np.where(st, (values - x_raw) * sc * fq, 0.0)

        def alpha(cutoff):
            return 1.0 / (1.0 + (1.0 / (2 * np.pi * cutoff)) * fq)

        a_d = alpha(f0.d_cutoff)
        edv = np.where(st, a_d * dv + (1 - a_d) * dx_out, dv)
        a = alpha(f0.min_cutoff + f0.beta * np.abs(edv))
        out = np.where(st, a * values + (1 - a) * x_out, values)
        for i in np.flatnonzero(run):
            f = filters[i]
            f.freq, f.last_t = float(new_freq[i]), int(t_ns[i])
            f.x_raw = values[i].astype(np.float32)
            f.dx_out = edv[i].astype(np.float32)
            f.x_out = out[i].astype(np.float32)
        return np.where(run.reshape(m, 1, 1), out, values)
