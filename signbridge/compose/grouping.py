"""Split a gloss track into sentence-sized groups.

Signers mark sentence boundaries with holds and pauses; without non-manual
markers the pause between recognised spans is the most reliable cue we have.
A length cap keeps captions and LLM prompts short when a signer never pauses.
"""
from __future__ import annotations

from typing import Sequence

from signbridge.records import GlossSpan

DEFAULT_GAP_MS = 700.0
DEFAULT_MAX_SPANS = 10


def group_spans(spans: Sequence[GlossSpan], gap_ms: float = DEFAULT_GAP_MS,
                max_spans: int = DEFAULT_MAX_SPANS) -> list[list[int]]:
    """Indices of ``spans`` (sorted by start time) grouped into sentences."""
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start_ms, spans[i].end_ms))
    groups: list[list[int]] = []
    last_end = None
    for i in order:
        s = spans[i]
        if not groups or len(groups[-1]) >= max_spans or (last_end is not None and s.start_ms - last_end > gap_ms):
            groups.append([i])
        else:
            groups[-1].append(i)
        last_end = s.end_ms if len(groups[-1]) == 1 else max(last_end or 0.0, s.end_ms)
    return groups
