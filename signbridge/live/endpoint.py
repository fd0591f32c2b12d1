"""Causal sign endpointing: decide, frame by frame, that a sign has ended.

The live counterpart of :mod:`signbridge.recognize.segment`, with the same activity rule
(:func:`~signbridge.recognize.segment.activity`: a hand above the rest line is signing) and the same
checkpoint settings (``min_span_ms``, ``max_span_ms``, ``min_piece_ms``), but it may only look back. As
streaming speech recognition endpoints on a short hold of silence, a sign ends when, for ``hold_ms``:

- the hands rest (no hand above the rest line): the sign ended where they went down (``rest``);
- or the hands stay up but hold still (smoothed palm speed under ``still_speed``): it ended where they
  stopped (``still``); the next sign starts when they move again.

Either is a pause, and closes the phrase. A run longer than ``max_span_ms`` with no pause is cut at its
slowest moment (``long``, phrase still open), as the batch segmenter cuts it. A run shorter than
``min_span_ms`` is noise and dropped. ``flush`` ends a sign still open when the stream ends (``end``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from signbridge.recognize.frames import Frames
from signbridge.recognize.segment import SegmentConfig, activity

PAUSES = ("rest", "still", "end")


@dataclass(frozen=True)
class Sign:
    start_ms: float  # first frame with a hand up (or the cut it continues from)
    end_ms: float  # where the hands went down, stopped, or the cut
    reason: str  # rest, still, long or end

    @property
    def closes_phrase(self) -> bool:
        return self.reason in PAUSES


class Endpointer:
    """Feed it every processed frame in time order (``push``); it returns the signs that just ended."""

    def __init__(self, cfg: SegmentConfig, hold_ms: float = 300.0, still_speed: float = 0.3,
                 smooth_ms: float = 200.0):
        self.cfg, self.hold_ms, self.still_speed, self.smooth_ms = cfg, float(hold_ms), float(still_speed), smooth_ms
        self._prev: tuple[float, np.ndarray, np.ndarray] | None = None
        self._recent: deque[tuple[float, float]] = deque()  # (t, speed) within smooth_ms
        self._run: list[tuple[float, float]] = []  # (t, smoothed speed) of the open sign, for cutting long ones
        self.state = "idle"  # idle, signing, held (hands up and still after a sign)
        self.start_ms = 0.0
        self.last_active_ms = 0.0
        self.rest_since: float | None = None
        self.still_since: float | None = None

    def push(self, t_ms: float, left: np.ndarray, right: np.ndarray, ref) -> list[Sign]:
        """One frame: ``left``/``right`` (21, 3) hands, NaN where not detected; ``ref`` the body reference."""
        active, speed = self._measure(t_ms, left, right, ref)
        self._recent.append((t_ms, speed))
        while self._recent and self._recent[0][0] < t_ms - self.smooth_ms:
            self._recent.popleft()
        smooth = float(np.mean([s for _, s in self._recent]))
        if self.state == "held":  # after a still end: a new sign starts when the hands move again
            if not active:
                self.state = "idle"
            elif smooth >= 2 * self.still_speed:
                self._begin(t_ms)
            return []
        if self.state == "idle":
            if active:
                self._begin(t_ms)
            return []
        return self._signing(t_ms, active, smooth)

    def _signing(self, t_ms: float, active: bool, smooth: float) -> list[Sign]:
        cfg = self.cfg
        self._run.append((t_ms, smooth))
        if active:
            self.last_active_ms, self.rest_since = t_ms, None
            self.still_since = (self.still_since or t_ms) if smooth < self.still_speed else None
        else:
            self.rest_since = self.rest_since if self.rest_since is not None else t_ms
            self.still_since = None
        if self.rest_since is not None and t_ms - self.rest_since >= self.hold_ms:
            self.state = "idle"
            return self._end(self.rest_since, "rest")
        if self.still_since is not None and t_ms - self.still_since >= self.hold_ms \
                and self.still_since - self.start_ms >= cfg.min_span_ms:
            self.state = "held"
            return self._end(self.still_since, "still")
        if t_ms - self.start_ms > cfg.max_span_ms:
            return self._cut(t_ms)
        return []

    def _cut(self, t_ms: float) -> list[Sign]:
        """A run with no pause longer than ``max_span_ms``: cut at its slowest moment, keep signing after it."""
        ok = [(s, t) for t, s in self._run
              if t - self.start_ms >= self.cfg.min_piece_ms and t_ms - t >= self.cfg.min_piece_ms]
        cut = min(ok)[1] if ok else t_ms
        sign = Sign(self.start_ms, cut, "long")
        self._run = [(t, s) for t, s in self._run if t >= cut]
        self.start_ms = cut
        return [sign]

    def _begin(self, t_ms: float) -> None:
        self.state, self.start_ms, self.last_active_ms = "signing", t_ms, t_ms
        self.rest_since = self.still_since = None
        self._run = []

    def _end(self, end_ms: float, reason: str) -> list[Sign]:
        self._run = []
        if end_ms - self.start_ms < self.cfg.min_span_ms:
            return []  # too short for a sign: a hand passing through the signing space
        return [Sign(self.start_ms, end_ms, reason)]

    def flush(self, t_ms: float) -> list[Sign]:
        """The stream ended: a sign still open ends at the last frame."""
        if self.state != "signing":
            return []
        self.state = "idle"
        end = self.rest_since if self.rest_since is not None else t_ms
        return self._end(end, "end")

    def _measure(self, t_ms: float, left: np.ndarray, right: np.ndarray, ref) -> tuple[bool, float]:
        """(a hand above the rest line, palm speed since the previous frame), as the batch segmenter measures."""
        prev = self._prev
        self._prev = (t_ms, left, right)
        if prev is None or t_ms <= prev[0]:
            lft, rgt, t = left[None], right[None], np.array([t_ms])
        else:
            lft, rgt, t = np.stack([prev[1], left]), np.stack([prev[2], right]), np.array([prev[0], t_ms])
        pose = np.full((len(t), 33, 4), np.nan, np.float32)  # activity() takes the body frame from ``ref``
        act, speed, _ = activity(Frames(t_ms=t, pose=pose, left=lft, right=rgt), self.cfg, ref)
        return bool(act[-1]), float(speed[-1])
