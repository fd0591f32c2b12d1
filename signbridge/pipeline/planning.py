"""How a run's work is cut into tasks: short videos packed together, long ones split into chunks."""
from __future__ import annotations

import math
from typing import Any, Sequence

from signbridge.pipeline.state import VideoState
from signbridge.settings import Settings


def plan_units(states: Sequence[VideoState], settings: Settings, *, batch_seconds: float | None = None,
               max_videos: int = 64) -> list[dict[str, Any]]:
    """Extraction work units: short videos packed into ~``batch_seconds`` of video per unit (so a
    thousand clips do not become a thousand tiny tasks), long ones split into one unit per chunk."""
    batch_s = float(batch_seconds or settings.batch_seconds)
    chunk_s = float(settings.chunk_seconds)
    units: list[dict[str, Any]] = []
    cur: list[int] = []
    cur_s = 0.0
    for st in states:
        if not st.active:
            continue
        dur = (st.duration_ms or 0.0) / 1000.0
        n = max(1, math.ceil(dur / chunk_s)) if dur > chunk_s else 1
        st.chunks = n
        if n > 1:
            units += [{"video": st.index, "chunk": c, "of": n, "seconds": round(min(chunk_s, dur - c * chunk_s), 1)}
                      for c in range(n)]
            continue
        if cur and (cur_s + dur > batch_s or len(cur) >= max_videos):
            units.append({"videos": cur, "seconds": round(cur_s, 1)})
            cur, cur_s = [], 0.0
        cur.append(st.index)
        cur_s += dur
    if cur:
        units.append({"videos": cur, "seconds": round(cur_s, 1)})
    return units


def group_batches(states: Sequence[VideoState], size: int) -> list[list[VideoState]]:
    """Downstream batches (recognition shares forward passes within one)."""
    size = max(1, int(size))
    return [list(states[i:i + size]) for i in range(0, len(states), size)] or [[]]

