"""Where each narrated piece goes on the video's timeline (pure; no audio here).

A piece (a sentence, or a cue-sized part of one) starts at its caption cue and
must be over by its deadline: 1 s after the end of its sentence's signing, the
next piece's start (less a breath: two narrations never overlap) and the end
of the video. One longer than that is sped up, at most MAX_SPEED (pitch is kept
by ffmpeg's atempo); the caller then splits a sentence that still does not fit
at its cue boundaries, and what is left over is cut with a short fade (the
placement says so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

MAX_SPEED = 1.3
GAP_MS = 120.0  # breath between consecutive pieces
OVERRUN_MS = 1000.0  # speech may run this long past the end of its signing, no longer


@dataclass(frozen=True)
class Placement:
    index: int
    caption_start_ms: float
    start_ms: float
    speech_ms: float  # natural length of the synthesised piece
    speed: float  # atempo factor applied (1.0 = natural)
    end_ms: float  # start + speech / speed, clipped to the deadline
    truncated: bool = False
    deadline_ms: float = math.inf  # when its signing ended, plus OVERRUN_MS
    sentence: int = -1  # the sentence it speaks (time order)
    part: int = 0  # 0: the whole sentence; 1, 2 ...: its cue-sized parts

    @property
    def delay_ms(self) -> float:
        return self.start_ms - self.caption_start_ms

    @property
    def cut_ms(self) -> float:
        """Speech that did not fit and was cut."""
        return max(0.0, self.speech_ms / self.speed - (self.end_ms - self.start_ms))


def plan(starts_ms: Sequence[float], speech_ms: Sequence[float], total_ms: float, *,
         deadlines_ms: Sequence[float] | None = None, max_speed: float = MAX_SPEED,
         gap_ms: float = GAP_MS) -> list[Placement]:
    """Placements for pieces (given in time order) of natural lengths ``speech_ms``."""
    out: list[Placement] = []
    cursor = 0.0
    n = len(starts_ms)
    for i, (cap, dur) in enumerate(zip(starts_ms, speech_ms)):
        start = min(float(cap) if cursor <= cap + 1e-6 else cursor, float(total_ms))
        deadline = float(deadlines_ms[i]) if deadlines_ms is not None else math.inf
        limit = min(float(total_ms), deadline)
        if i + 1 < n:
            limit = min(limit, float(starts_ms[i + 1]) - gap_ms)
        slot = limit - start
        speed = max_speed if slot <= 0 else min(max_speed, max(1.0, dur / slot))
        if speed < 1.0 + 1e-3:
            speed = 1.0
        end = start + dur / speed
        truncated = end > limit + 0.5
        if end > limit:  # cut (or, within half a millisecond, rounded) at the limit
            end = max(start, limit)
        out.append(Placement(index=i, caption_start_ms=float(cap), start_ms=start, speech_ms=float(dur),
                             speed=round(speed, 4), end_ms=end, truncated=truncated, deadline_ms=deadline))
        cursor = end + gap_ms
    return out
