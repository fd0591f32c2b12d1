"""Joining recorded sequences into one continuous track (segmentation evaluation, benchmarks)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from signbridge.recognize.frames import Frames, body_reference


def align_to(f: Frames, ref: tuple[float, float, float, float]) -> Frames:
    """Move and scale a sequence so its signer's shoulders sit where ``ref``'s do (one camera for all clips)."""
    cx, cy, sx, sy = body_reference(f)
    rx, ry, rsx, rsy = ref

    def tf(a):
        if a is None:
            return None
        a = a.copy()
        a[..., 0] = (a[..., 0] - cx) / sx * rsx + rx
        a[..., 1] = (a[..., 1] - cy) / sy * rsy + ry
        a[..., 2] = a[..., 2] * (rsx / sx)
        return a

    return replace(f, pose=tf(f.pose), left=tf(f.left), right=tf(f.right), face=tf(f.face))


def concat_frames(parts: list[Frames], gap_ms: float = 0.0, align: bool = True
                  ) -> tuple[Frames, list[tuple[float, float]]]:
    """Join sequences end to end on one time line; returns the joined Frames and each part's (start, end) ms.

    ``align`` maps every part onto the first part's body position and size, so the joins do not show a
    different person jumping into frame (which a segmenter could exploit but real signing never shows).
    """
    if align and parts:
        ref = body_reference(parts[0])
        parts = [parts[0]] + [align_to(p, ref) for p in parts[1:]]
    ts, bounds, t0 = [], [], 0.0
    for f in parts:
        step = float(np.median(np.diff(f.t_ms))) if len(f) > 1 else 40.0
        t = f.t_ms - f.t_ms[0] + t0
        ts.append(t)
        bounds.append((t0, float(t[-1] + step)))
        t0 = float(t[-1] + step + gap_ms)
    face = None
    if all(f.face is not None for f in parts):
        face = np.concatenate([f.face for f in parts])
    out = Frames(t_ms=np.concatenate(ts), pose=np.concatenate([f.pose for f in parts]),
                 left=np.concatenate([f.left for f in parts]), right=np.concatenate([f.right for f in parts]),
                 face=face, meta={"fps": parts[0].meta.get("fps", 25.0)})
    return out, bounds
