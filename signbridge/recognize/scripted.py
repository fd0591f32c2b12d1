"""Gloss tracks of scripted videos: the script aligned to the signing (:mod:`align`) turned into spans.

A placed word's span is labelled with the model's gloss for it (or, for a word the model has no class for, a
gloss-style form of the word), tier plain (the user wrote the text; ``alignment_confidence`` says how sure the
placement is), and keeps the classifier's top-k for reviewers.
"""
from __future__ import annotations

import re

import numpy as np

from signbridge.records import UNKNOWN, GlossSpan, TopK
from signbridge.recognize.align import align, report_spans
from signbridge.recognize.hints import Script
from signbridge.recognize.plans import Plan

TOP_K = 5


def _gloss_name(text: str) -> str:
    """A script word the model has no class for, as a gloss name (lower case; letters, digits, spaces, - and ')."""
    return re.sub(r"[^a-z0-9 '\-]+", "", text.lower()).strip() or "unknown-word"


def _top(row: np.ndarray, labels) -> list[TopK]:
    return [TopK(labels[j], round(float(row[j]), 6)) for j in np.argsort(-row)[:TOP_K]]


def aligned_spans(plan: Plan, rec, settings, script: Script) -> tuple[list[GlossSpan], dict]:
    """Spans of a video whose script is known: each placed script sign labelled with its script word; pieces
    no script word took are [unclear sign] with their top-k. Returns the spans and the alignment summary."""
    f = plan.frames

    def classify(units):
        return rec.classify(rec.features(f, units, plan.ref), settings.batch_size)[0]

    al = align(f, plan.core, rec.segment_cfg, plan.ref, script, classify)
    items: list[tuple[tuple[float, float], GlossSpan]] = []
    for pl in al.placed:
        w = script.words[pl.slot]
        label = rec.labels[w.gloss] if w.gloss is not None else _gloss_name(w.text)
        items.append((pl.core_ms, GlossSpan(0.0, 0.0, label, "gloss", round(pl.confidence, 6),
                                            _top(al.unit_probs[pl.unit], rec.labels), tier="plain",
                                            script_word=w.text, script_index=pl.slot,
                                            alignment_confidence=round(pl.confidence, 6))))
    for core, u in zip(al.extra, al.extra_units):
        row = al.unit_probs[u]
        items.append((core, GlossSpan(0.0, 0.0, UNKNOWN, "unknown", round(float(row.max()), 6), _top(row, rec.labels),
                                      tier="unclear")))
    items.sort(key=lambda it: it[0])
    rep = report_spans([c for c, _ in items], rec.segment_cfg, f.duration_ms or float(f.t_ms[-1]) if len(f) else 0.0)
    for (_, span), (a, b) in zip(items, rep):
        span.start_ms, span.end_ms = float(a), float(b)
    info = {"placed": len(al.placed), "unplaced": [{"index": i, "word": script.words[i].text,
                                                    "sentence": script.words[i].sentence} for i in al.unplaced],
            "signing_not_in_script": len(al.extra), "sentences": list(script.sentences), "mode": script.mode,
            "words": [{"text": w.text, "sentence": w.sentence} for w in script.words]}
    return [s for _, s in items], info
