"""Landmark tables -> gloss tracks: segment every video, classify all spans in shared batches.

Spans from all videos go through the model together (``settings.batch_size``
per forward pass), so throughput does not depend on how the work is split into
videos. Decisions per span, each with a tier (:mod:`openset`): fingerspelling
when the letter reading is more confident than the sign classifier (tier from
the calibration file, uncertain as shipped; a lone letter that is not a word
such as A or I is unclear, its letter first in the top-k); UNKNOWN, tier unclear, with top-k kept,
below the checkpoint's calibrated ``shown`` threshold (or
``settings.min_confidence`` when set) or when the top gloss is outside the
shown vocabulary; else the top gloss, plain at or above the ``plain``
threshold, uncertain below it. A track with no word shown says
``no_signing_recognised`` and why.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from signbridge.errors import ConfigError, SchemaError
from signbridge.records import NO_SIGNING, UNKNOWN, GlossSpan, GlossTrack, TopK
from signbridge.recognize.align import align, report_spans
from signbridge.recognize.fingerspell import read_span
from signbridge.recognize.frames import Frames, body_reference, frames_from_table
from signbridge.recognize.hints import Hints
from signbridge.recognize.listprior import posterior, thresholds_for
from signbridge.recognize.openset import TWO_LETTER_WORDS, tier_of
from signbridge.recognize.segment import segment_runs

log = logging.getLogger(__name__)
TOP_K = 5


@dataclass
class _Plan:
    frames: Frames
    spans: np.ndarray
    core: np.ndarray
    runs: np.ndarray
    ref: tuple[float, float, float, float]
    source: str
    sha256: str


def frames_for_tables(tables: Sequence, sources: Sequence[str] | None = None) -> list[tuple[Frames, str, str]]:
    """Validate every table first (a bad one is named before any work starts)."""
    out = []
    for i, table in enumerate(tables):
        src = sources[i] if sources and i < len(sources) and sources[i] else None
        frames = frames_from_table(table, source=src)
        uri = src or str(frames.meta.get("source_uri", f"table[{i}]"))
        if len(frames) == 0:
            raise SchemaError("the landmarks table has no frames", source=uri,
                              hint="the video decoded to nothing; check it with `signbridge probe`")
        out.append((frames, uri, str(frames.meta.get("sha256", ""))))
    return out


def recognize_frames(items: Sequence[tuple[Frames, str, str]], rec, settings,
                     hints: Sequence[Hints | None] | None = None) -> list[GlossTrack]:
    """Core of recognition on already-read Frames (``(frames, source_uri, sha256)`` per video).

    ``hints`` (one per video, or None): a word list restricts what may be shown to its glosses, through the
    list prior and the cut-offs fitted for lists of its size (:mod:`listprior`); a script is aligned to the
    signing instead (:mod:`align`)."""
    plans: list[_Plan] = []
    feats = []
    for frames, uri, sha in items:
        if not frames.any_hand.any():
            log.warning("%s: no hands detected in any frame; %s", uri, NO_SIGNING)
        ref = body_reference(frames)
        spans, core, runs = segment_runs(frames, rec.segment_cfg, ref)
        plans.append(_Plan(frames, spans, core, runs, ref, uri, sha))
        feats.append(rec.features(frames, core, ref))
    x = np.concatenate(feats) if feats else np.zeros((0, rec.feature_cfg.n_steps, rec.feature_cfg.n_features),
                                                      np.float32)
    probs, _ = rec.classify(x, settings.batch_size)
    thresholds = calibrated_thresholds(rec, settings)
    tracks, k = [], 0
    for n, plan in enumerate(plans):
        p = probs[k:k + len(plan.spans)]
        k += len(plan.spans)
        hint = hints[n] if hints and n < len(hints) else None
        info = None
        if hint is not None and hint.script is not None:
            spans, info = _aligned(plan, rec, settings, hint)
            th = thresholds
        else:
            spans, th = _decide_hinted(plan, p, rec, settings, thresholds, hint)
        track = GlossTrack(source_uri=plan.source, sha256=plan.sha256, model_name=rec.name,
                           model_version=rec.version, spans=spans, duration_ms=plan.frames.duration_ms,
                           vocabulary_sha256=rec.vocabulary_sha256, min_confidence=settings.min_confidence,
                           thresholds=th)
        if hint is not None:
            track.hints = {**hint.summary(), **({"alignment": info} if info else {})}
        track.status, track.status_reason = _status(track, plan.frames)
        tracks.append(track)
    return tracks


def calibrated_thresholds(rec, settings) -> dict[str, float]:
    """The checkpoint's tier cut-offs; an explicit ``min_confidence`` overrides the calibrated one."""
    thresholds = dict(rec.thresholds)
    if settings.min_confidence is not None:
        thresholds["shown"] = float(settings.min_confidence)
        thresholds["plain"] = max(thresholds["plain"], thresholds["shown"])
    return thresholds


def _decide_hinted(plan: _Plan, p: np.ndarray, rec, settings, thresholds: dict[str, float],
                   hint: Hints | None) -> tuple[list[GlossSpan], dict[str, float]]:
    """Spans and the cut-offs used: a word list shows only its glosses, through the list prior and the
    cut-offs fitted for lists of its size; without one, the calibrated shown vocabulary."""
    if hint is None or hint.vocabulary is None:
        return _decide(plan, p, rec, thresholds, rec.shown), thresholds
    listed = np.asarray(hint.vocabulary.glosses, dtype=int)
    th = thresholds_for(rec.calibration, len(listed), str(rec.dir / "calibration.json"))
    if settings.min_confidence is not None:
        th = {"shown": float(settings.min_confidence), "plain": max(th["plain"], settings.min_confidence)}
    allowed = set(listed.tolist())
    return _decide(plan, posterior(p, listed) if len(p) else p, rec, th, lambda j: j in allowed), th


def classify_spans(frames: Frames, core_ms: np.ndarray, rec, settings, hint: Hints | None = None,
                   ref=None, spans_ms: np.ndarray | None = None) -> tuple[list[GlossSpan], dict[str, float]]:
    """Spans found elsewhere (live endpointing), decided as :func:`recognize_frames` decides: the same
    features, tiers, fingerspelling reading, word-list prior and cut-offs. ``core_ms``: what the classifier
    sees; ``spans_ms``: the times the spans report (default ``core_ms``). Each span is its own run."""
    if hint is not None and hint.script is not None:
        raise ConfigError("a script is aligned to a whole video; spans found one by one take a word list only")
    core = np.asarray(core_ms, dtype=np.float64).reshape(-1, 2)
    ref = body_reference(frames) if ref is None else ref
    plan = _Plan(frames, core if spans_ms is None else np.asarray(spans_ms, np.float64).reshape(-1, 2), core,
                 np.arange(len(core)), ref, "live", "")
    probs, _ = rec.classify(rec.features(frames, core, ref), settings.batch_size)
    return _decide_hinted(plan, probs, rec, settings, calibrated_thresholds(rec, settings), hint)


def _gloss_name(text: str) -> str:
    """A script word the model has no class for, as a gloss name (lower case; letters, digits, spaces, - and ')."""
    import re

    return re.sub(r"[^a-z0-9 '\-]+", "", text.lower()).strip() or "unknown-word"


def _aligned(plan: _Plan, rec, settings, hint: Hints) -> tuple[list[GlossSpan], dict]:
    """Spans of a video whose script is known: each placed script sign labelled with its script word."""
    script = hint.script
    f = plan.frames

    def classify(units):
        return rec.classify(rec.features(f, units, plan.ref), settings.batch_size)[0]

    al = align(f, plan.core, rec.segment_cfg, plan.ref, script, classify)
    items: list[tuple[tuple[float, float], GlossSpan]] = []
    for pl in al.placed:
        w = script.words[pl.slot]
        label = rec.labels[w.gloss] if w.gloss is not None else _gloss_name(w.text)
        row = al.unit_probs[pl.unit]
        top = [TopK(rec.labels[j], round(float(row[j]), 6)) for j in np.argsort(-row)[:TOP_K]]
        items.append((pl.core_ms, GlossSpan(0.0, 0.0, label, "gloss", round(pl.confidence, 6), top, tier="plain",
                                            script_word=w.text, script_index=pl.slot,
                                            alignment_confidence=round(pl.confidence, 6))))
    for core, u in zip(al.extra, al.extra_units):
        row = al.unit_probs[u]
        top = [TopK(rec.labels[j], round(float(row[j]), 6)) for j in np.argsort(-row)[:TOP_K]]
        items.append((core, GlossSpan(0.0, 0.0, UNKNOWN, "unknown", round(float(row.max()), 6), top, tier="unclear")))
    items.sort(key=lambda it: it[0])
    rep = report_spans([c for c, _ in items], rec.segment_cfg, f.duration_ms or float(f.t_ms[-1]) if len(f) else 0.0)
    for (_, span), (a, b) in zip(items, rep):
        span.start_ms, span.end_ms = float(a), float(b)
    info = {"placed": len(al.placed), "unplaced": [{"index": i, "word": script.words[i].text,
                                                    "sentence": script.words[i].sentence} for i in al.unplaced],
            "signing_not_in_script": len(al.extra), "sentences": list(script.sentences), "mode": script.mode,
            "words": [{"text": w.text, "sentence": w.sentence} for w in script.words]}
    return [s for _, s in items], info


def _status(track: GlossTrack, frames: Frames) -> tuple[str, str]:
    """(status, reason): whether any word is shown, and if not, why (for the run summary)."""
    if not track.no_signing_recognised:
        return "signing_recognised", ""
    if not frames.any_hand.any():
        return NO_SIGNING, "no hands detected in any frame"
    if not track.spans:
        return NO_SIGNING, "hands seen but no sign span found"
    return NO_SIGNING, f"{len(track.spans)} sign span(s), none recognised with enough confidence ([unclear sign])"


def _decide(plan: _Plan, probs: np.ndarray, rec, thresholds: dict[str, float], shown) -> list[GlossSpan]:
    f = plan.frames
    labels = rec.labels
    if len(plan.spans) == 0:
        return []
    result: list[tuple[GlossSpan, int]] = []
    spell_tier = rec.calibration.get("fingerspelling", {}).get("tier", "uncertain")
    for s, (t0, t1) in enumerate(plan.spans):
        order = np.argsort(-probs[s])[:TOP_K]
        top = [TopK(label=labels[j], prob=round(float(probs[s, j]), 6)) for j in order]
        conf = float(probs[s, order[0]])
        tier = tier_of(conf, thresholds) if shown(int(order[0])) else "unclear"
        i0, i1 = np.searchsorted(f.t_ms, plan.core[s])
        hands = np.flatnonzero(f.any_hand[i0:i1])
        reading = None
        if hands.size:
            reading = read_span(f, i0 + hands[0], i0 + hands[-1] + 1, rec.letter_probs, rec.spell_cfg,
                                rec.segment_cfg.rest_line, plan.ref)
        if reading is not None and reading.confidence > conf:
            label = f"fs-{reading.word}"
            span = GlossSpan(float(t0), float(t1), label, "fingerspelling", round(reading.confidence, 6),
                             [TopK(label, round(reading.confidence, 6))] + top[:TOP_K - 1], tier=spell_tier)
        elif tier == "unclear":
            span = GlossSpan(float(t0), float(t1), UNKNOWN, "unknown", round(conf, 6), top, tier="unclear")
        else:
            span = GlossSpan(float(t0), float(t1), top[0].label, "gloss", round(conf, 6), top, tier=tier)
        result.append((span, int(plan.runs[s])))
    spell = rec.calibration.get("fingerspelling", {})
    words = set(spell.get("single_letter_words", ["A", "I"])) | \
        set(spell.get("two_letter_words", TWO_LETTER_WORDS))  # older calibration files have no list
    return [_short_spelling(s, words) for s in _merge_spelling(result)]


def _short_spelling(span: GlossSpan, words: set[str]) -> GlossSpan:
    """One or two spelled letters are mostly a sign's hand shape (or its movement) read as letters: INSURANCE's
    shaken I, THIN read as "ZQ". Such a reading is unclear, the letters kept first in the top-k, unless it is a
    word of that length (A, I; NO, OK, TV, ...: ``calibration.json`` ``fingerspelling``)."""
    if span.kind != "fingerspelling" or len(span.label) > 5 or span.label[3:] in words:
        return span
    return GlossSpan(span.start_ms, span.end_ms, UNKNOWN, "unknown", span.confidence, span.top_k, tier="unclear")


def _merge_spelling(items: list[tuple[GlossSpan, int]]) -> list[GlossSpan]:
    """Pieces of one active run that are all fingerspelling form one word (a long word may be cut in pieces)."""
    out: list[tuple[GlossSpan, int]] = []
    for span, run in items:
        if out and span.kind == "fingerspelling" and out[-1][0].kind == "fingerspelling" and out[-1][1] == run:
            prev = out[-1][0]
            a, b = prev.label[3:], span.label[3:]
            word = a + (b[1:] if a and b and a[-1] == b[0] else b)
            conf = min(prev.confidence, span.confidence)
            merged = GlossSpan(prev.start_ms, span.end_ms, f"fs-{word}", "fingerspelling", conf,
                               [TopK(f"fs-{word}", conf)] + prev.top_k[1:TOP_K], tier=prev.tier)  # sign candidates kept
            out[-1] = (merged, run)
        else:
            out.append((span, run))
    return [s for s, _ in out]


def recognize_tables(tables: Sequence, settings, sources: Sequence[str] | None = None,
                     hints: Sequence | None = None) -> list[GlossTrack]:
    """Gloss tracks for landmark tables, in order; all spans of all videos share batched forward passes.

    Device: ``settings.device`` (auto = CUDA/ROCm when present). Model: ``settings.checkpoint`` or the shipped
    one. An empty table raises :class:`SchemaError`; a table without hands, or without signing, gives a track
    with no spans.
    """
    from signbridge.recognize.checkpoint import load_recognizer

    items = frames_for_tables(tables, sources)
    rec = load_recognizer(settings)
    return recognize_frames(items, rec, settings, resolve_hints(hints, rec))


def resolve_hints(hints: Sequence | None, rec) -> list[Hints | None] | None:
    """Hint texts (:class:`~signbridge.recognize.hints.HintTexts`) resolved against the loaded model's
    vocabulary; already resolved :class:`Hints` pass through."""
    if not hints:
        return None
    from signbridge.recognize.hints import HintTexts, lexicon_for

    lex = None
    out: list[Hints | None] = []
    for h in hints:
        if isinstance(h, HintTexts):
            lex = lex or lexicon_for(rec)
            h = h.resolve(lex)
        out.append(h)
    return out


def recognize_table(table, settings, source: str | None = None) -> GlossTrack:
    return recognize_tables([table], settings, [source] if source else None)[0]
