"""Where each narrated sentence goes on the video's timeline (pure; no audio here).

Each sentence starts at its caption's start. One that runs longer than its slot
(until the next caption starts) is sped up, at most MAX_SPEED (pitch is kept
by ffmpeg's atempo); if that is not enough the next sentence is delayed. Two
narrations never overlap. Only the last sentence can meet the end of the video:
then it is cut with a short fade, and the placement says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

MAX_SPEED = 1.3
GAP_MS = 120.0  # breath between consecutive sentences


@dataclass(frozen=True)
class Placement:
    index: int
    caption_start_ms: float
    start_ms: float
    speech_ms: float  # natural length of the synthesised sentence
    speed: float  # atempo factor applied (1.0 = natural)
    end_ms: float  # start + speech / speed, clipped to the video
    truncated: bool = False

    @property
    def delay_ms(self) -> float:
        return self.start_ms - self.caption_start_ms


def plan(starts_ms: Sequence[float], speech_ms: Sequence[float], total_ms: float,
         max_speed: float = MAX_SPEED, gap_ms: float = GAP_MS) -> list[Placement]:
    """Placements for sentences (given in time order) of natural lengths ``speech_ms``."""
    out: list[Placement] = []
    cursor = 0.0
    n = len(starts_ms)
    for i, (cap, dur) in enumerate(zip(starts_ms, speech_ms)):
        start = max(float(cap), cursor)
        next_cap = float(starts_ms[i + 1]) - gap_ms if i + 1 < n else float(total_ms)
        slot = next_cap - start
        speed = 1.0
        if dur > slot:
            speed = max_speed if slot <= 0 else min(max_speed, dur / slot)
        if speed < 1.0 + 1e-3:
            speed = 1.0
        end = start + dur / speed
        truncated = False
        if end > total_ms:
            if start >= total_ms:  # pushed past the end by earlier sentences: squeeze in at the very end
                start = max(cursor, float(total_ms) - 1.0)
            end, truncated = float(total_ms), True
        out.append(Placement(index=i, caption_start_ms=float(cap), start_ms=start, speech_ms=float(dur),
                             speed=round(speed, 4), end_ms=end, truncated=truncated))
        cursor = end + gap_ms
    return out
