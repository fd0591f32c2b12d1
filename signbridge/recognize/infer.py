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
from typing import Sequence

import numpy as np

from signbridge.errors import ConfigError, SchemaError
from signbridge.records import UNKNOWN, GlossSpan, GlossTrack, TopK
from signbridge.recognize.fingerspell import read_span
from signbridge.recognize.frames import Frames, body_reference, frames_from_table
from signbridge.recognize.hints import Hints
from signbridge.recognize.listprior import posterior, thresholds_for
from signbridge.recognize.openset import TWO_LETTER_WORDS, tier_of
from signbridge.recognize.plans import Plan, plan_frames, status_of

log = logging.getLogger(__name__)
TOP_K = 5


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

    ``settings.recognizer``: the classifier decides (default), or a vision-language model decides every span
    (``vlm``) or the spans the classifier leaves unclear (``hybrid``); see :mod:`signbridge.recognize.vlm`.
    ``hints`` (one per video, or None): a word list restricts what may be shown to its glosses, through the
    list prior and the cut-offs fitted for lists of its size (:mod:`listprior`); a script is aligned to the
    signing instead (:mod:`scripted`). The VLM takes a word list as its candidates (one list per call).
    """
    mode = getattr(settings, "recognizer", "classifier")
    if mode in ("vlm", "hybrid"):
        lists = {tuple(h.vocabulary.words) for h in hints or [] if h is not None and h.vocabulary is not None}
        vocab = [rec.labels[g] for h in hints or [] if h is not None and h.vocabulary is not None
                 for g in h.vocabulary.glosses] if len(lists) == 1 else None
        if mode == "vlm":
            from signbridge.recognize.vlm import recognize_with_vlm

            return recognize_with_vlm(plan_frames(items, rec), rec, settings, vocabulary=vocab)
        from signbridge.recognize.vlm import decide_unclear

        return decide_unclear(*classify_frames(items, rec, settings, hints), rec, settings, vocabulary=vocab)
    return classify_frames(items, rec, settings, hints)[0]


def shown_thresholds(rec, settings) -> dict[str, float]:
    """The checkpoint's calibrated tier cut-offs, or ``settings.min_confidence`` as the shown cut-off."""
    thresholds = dict(rec.thresholds)
    if settings.min_confidence is not None:  # an explicit setting overrides the calibrated cut-off
        thresholds["shown"] = float(settings.min_confidence)
        thresholds["plain"] = max(thresholds["plain"], thresholds["shown"])
    return thresholds


def classify_frames(items: Sequence[tuple[Frames, str, str]], rec, settings,
                    hints: Sequence[Hints | None] | None = None) -> tuple[list[GlossTrack], list[Plan]]:
    """Gloss tracks decided by the landmark classifier, and the plans (spans) they came from."""
    plans = plan_frames(items, rec)
    feats = [rec.features(p.frames, p.core, p.ref) for p in plans]
    x = np.concatenate(feats) if feats else np.zeros((0, rec.feature_cfg.n_steps, rec.feature_cfg.n_features),
                                                      np.float32)
    probs, _ = rec.classify(x, settings.batch_size)
    thresholds = shown_thresholds(rec, settings)
    tracks, k = [], 0
    for n, plan in enumerate(plans):
        p = probs[k:k + len(plan.spans)]
        k += len(plan.spans)
        hint = hints[n] if hints and n < len(hints) else None
        th, info = thresholds, None
        if hint is not None and hint.script is not None:
            from signbridge.recognize.scripted import aligned_spans

            spans, info = aligned_spans(plan, rec, settings, hint.script)
        else:
            spans, th = _decide_hinted(plan, p, rec, settings, thresholds, hint)
        track = GlossTrack(source_uri=plan.source, sha256=plan.sha256, model_name=rec.name,
                           model_version=rec.version, spans=spans, duration_ms=plan.frames.duration_ms,
                           vocabulary_sha256=rec.vocabulary_sha256, min_confidence=settings.min_confidence,
                           thresholds=th)
        if hint is not None:
            track.hints = {**hint.summary(), **({"alignment": info} if info else {})}
        track.status, track.status_reason = status_of(track, plan.frames)
        tracks.append(track)
    return tracks, plans


def _decide_hinted(plan: Plan, p: np.ndarray, rec, settings, thresholds: dict[str, float],
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
    short = {w.upper() for w in hint.vocabulary.words if 0 < len(w) <= 2 and w.isalpha()}
    return _decide(plan, posterior(p, listed) if len(p) else p, rec, th, lambda j: j in allowed, short), th


def classify_spans(frames: Frames, core_ms: np.ndarray, rec, settings, hint: Hints | None = None,
                   ref=None, spans_ms: np.ndarray | None = None) -> tuple[list[GlossSpan], dict[str, float]]:
    """Spans found elsewhere (live endpointing), decided as :func:`classify_frames` decides: the same
    features, tiers, fingerspelling reading, word-list prior and cut-offs. ``core_ms``: what the classifier
    sees; ``spans_ms``: the times the spans report (default ``core_ms``). Each span is its own run."""
    if hint is not None and hint.script is not None:
        raise ConfigError("a script is aligned to a whole video; spans found one by one take a word list only")
    core = np.asarray(core_ms, dtype=np.float64).reshape(-1, 2)
    ref = body_reference(frames) if ref is None else ref
    plan = Plan(frames, core if spans_ms is None else np.asarray(spans_ms, np.float64).reshape(-1, 2), core,
                np.arange(len(core)), ref, "live", "")
    probs, _ = rec.classify(rec.features(frames, core, ref), settings.batch_size)
    return _decide_hinted(plan, probs, rec, settings, shown_thresholds(rec, settings), hint)


def _decide(plan: Plan, probs: np.ndarray, rec, thresholds: dict[str, float], shown,
            short_words: set[str] | None = None) -> list[GlossSpan]:
    """Spans with their tiers. ``shown(index)``: whether a gloss may be shown; ``short_words``: the one- and
    two-letter spellings that may be shown (default: the calibration's words; with a word list, the list's)."""
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
    words = short_words if short_words is not None else set(spell.get("single_letter_words", ["A", "I"])) | \
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
