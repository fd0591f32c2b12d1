"""Synthetic fingerspelling sequences for measuring the letters-to-word path.

We have letter hand shapes (single frames) but no continuous fingerspelling
with labels, so words are assembled: a real signer's body (one WLASL frame,
held still), the right hand replaced by held-out letter shapes, each held for a
while with short blended transitions, at our extractor's frame rate.
"""
from __future__ import annotations

import numpy as np

from signbridge.recognize.fingerspell import LETTERS
from signbridge.recognize.frames import Frames, body_reference


def place_hand(hand: np.ndarray, body: Frames, where: tuple[float, float] = (-0.6, 0.3)) -> np.ndarray:
    """Move a raw hand (21, 3) so its wrist sits at ``where`` (body units from the shoulder centre)."""
    cx, cy, sx, sy = body_reference(body)
    h = hand.astype(np.float32).copy()
    palm = float(np.linalg.norm(h[9, :2] - h[0, :2]))
    s = (sx / 3.2) / max(palm, 1e-6)
    rel = (h - h[:1]) * s
    rel[:, 1] *= sy / sx  # keep the body's aspect
    target = np.array([cx + where[0] * sx, cy + where[1] * sy], np.float32)
    rel[:, :2] += target
    rel[:, 2] = (h[:, 2] - h[0, 2]) * s
    return rel


def spelled_sequence(body: Frames, word: str, shapes: dict[str, np.ndarray], rng: np.random.Generator,
                     fps: float = 15.0, hold: int = 6, blend: int = 2, rest: int = 6) -> tuple[Frames, tuple[float, float]]:
    """A Frames sequence: rest, the word letter by letter, rest. Returns it and the spelled span (ms)."""
    pose0 = body.pose[np.flatnonzero(body.pose_present)[0]]
    hands: list[np.ndarray] = []
    prev = None
    for ch in word.upper():
        cand = shapes[ch]
        cur = place_hand(cand[rng.integers(len(cand))], body)
        if prev is not None:
            for k in range(1, blend + 1):
                a = k / (blend + 1)
                hands.append((1 - a) * prev + a * cur)
        for _ in range(hold):
            hands.append(cur + rng.normal(0, 0.002, cur.shape).astype(np.float32))
        prev = cur
    n = rest + len(hands) + rest
    right = np.full((n, 21, 3), np.nan, np.float32)
    right[rest:rest + len(hands)] = np.stack(hands)
    left = np.full((n, 21, 3), np.nan, np.float32)
    pose = np.repeat(pose0[None], n, axis=0)
    t = np.arange(n) * 1000.0 / fps
    frames = Frames(t_ms=t, pose=pose, left=left, right=right, face=None, meta={"fps": fps})
    return frames, (float(t[rest]), float(t[rest + len(hands) - 1] + 1000.0 / fps))


def letter_shapes(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    return {LETTERS[i]: X[y == i] for i in np.unique(y)}
