"""Sentence groups that captions can follow: split a group whose English cannot be cut at span boundaries.

A caption cue may only be cut where every earlier word's sign ends before every
later word's sign starts. English word order sometimes ties a long group
together (a WH-sign signed last goes first: "How ... ?"), and then no cut keeps
the cues within two lines and 7 s without showing a sign before it is signed.
Such a group is composed again as two groups, split at its longest pause.
An LLM sentence that cannot be cut is rejected like any other guard failure.
"""
from __future__ import annotations

from typing import Sequence

from signbridge.compose.grouping import group_spans
from signbridge.compose.rules import compose_rules
from signbridge.records import UNKNOWN, GlossSpan, GlossTrack, Sentence
from signbridge.settings import Settings


def fits(text: str, spans: Sequence[GlossSpan], settings: Settings) -> bool:
    """Whether captions can show ``text``, composed from ``spans``, in cues cut at span boundaries."""
    from signbridge.captions.cues import fits_in_cues
    from signbridge.captions.marking import mark_low_confidence

    if not spans or not text:
        return True
    track = GlossTrack(source_uri="", sha256="", model_name="", model_version="", spans=list(spans))
    s = Sentence(start_ms=min(x.start_ms for x in spans), end_ms=max(x.end_ms for x in spans), text=text,
                 span_indices=list(range(len(spans))), confidence=0.0, uncertain=False)
    return fits_in_cues(s, mark_low_confidence(s, settings, track), track, settings.low_confidence_marker)


def item_spans(labels: Sequence[str], confidences: Sequence[float], starts_ms: Sequence[float],
               ends_ms: Sequence[float]) -> list[GlossSpan]:
    return [GlossSpan(a, b, lab, "unknown" if lab == UNKNOWN else "gloss", c)
            for lab, c, a, b in zip(labels, confidences, starts_ms, ends_ms)]


def caption_groups(spans: Sequence[GlossSpan], settings: Settings) -> list[list[int]]:
    """``group_spans`` groups, each split until its rules sentence fits captions."""
    return [part for g in group_spans(spans) for part in _split(g, spans, settings)]


def _split(group: list[int], spans: Sequence[GlossSpan], settings: Settings) -> list[list[int]]:
    mine = [spans[i] for i in group]
    labels = [UNKNOWN if s.kind == "unknown" else s.label for s in mine]
    draft = compose_rules(labels, [s.confidence for s in mine], low=settings.low_confidence)
    if len(group) == 1 or fits(draft, [GlossSpan(s.start_ms, s.end_ms, lab, s.kind, s.confidence)
                                       for s, lab in zip(mine, labels)], settings):
        return [group]
    gaps = [(mine[k].start_ms - mine[k - 1].end_ms, -abs(2 * k - len(group)), k) for k in range(1, len(group))]
    k = max(gaps)[2]
    return _split(group[:k], spans, settings) + _split(group[k:], spans, settings)
