"""``--recognizer vlm`` and ``hybrid``: a vision-language model decides sign spans by scoring candidate words.

The design's zero-shot path: no training, any vocabulary. The spans come from the same segmentation as the
classifier's; for each span a few frames are decoded from the source video in memory
(:mod:`vlm_frames`), and the model gives every candidate gloss a likelihood as the answer
(:mod:`vlm_score`; it never generates free text). The candidates are the checkpoint's shown vocabulary (its
few-shot glosses included), or an explicit list. Glosses that are one sign (``same_signs``) pool their
probability as in the classifier.

Tiers: the VLM is not calibrated on held-out data, so it never shows a plain word. A span whose top
candidate has at least ``settings.vlm_min_confidence`` (a fixed value, fitted on nothing) is shown with the
uncertainty marker; below it the span is ``[unclear sign]`` with its top-k kept. ``hybrid`` keeps every
span the classifier decided and lets the VLM decide only the spans the classifier left unclear; a span the
VLM cannot decide either stays as the classifier left it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from signbridge.errors import ConfigError
from signbridge.records import UNKNOWN, GlossSpan, GlossTrack, TopK
from signbridge.recognize.checkpoint import vocabulary_sha256
from signbridge.recognize.same_signs import pool, representatives
from signbridge.recognize.vlm_score import candidate_probs

TOP_K = 5


def candidate_glosses(rec, vocabulary: Sequence[str] | None = None) -> list[str]:
    """The glosses the VLM chooses among: ``vocabulary`` when given (order kept, duplicates dropped), else
    the checkpoint's shown vocabulary (few-shot glosses included)."""
    if vocabulary is not None:
        out = list(dict.fromkeys(g.strip() for g in vocabulary if g and g.strip()))
        if not out:
            raise ConfigError("the vocabulary for the vlm recogniser is empty", hint="give at least one gloss")
        return out
    return [g for i, g in enumerate(rec.labels) if rec.shown(i)]


def _display_name(name: str) -> str:
    p = Path(name).expanduser()
    return p.name if p.is_dir() else name


def _decide(probs: np.ndarray, glosses: Sequence[str], shown: float, start: float, end: float) -> GlossSpan:
    order = np.argsort(-probs, kind="stable")[:TOP_K]
    top = [TopK(label=glosses[j], prob=round(float(probs[j]), 6)) for j in order]
    conf = round(float(probs[order[0]]), 6)
    if conf >= shown:  # never "plain": not calibrated
        return GlossSpan(float(start), float(end), glosses[order[0]], "gloss", conf, top, tier="uncertain")
    return GlossSpan(float(start), float(end), UNKNOWN, "unknown", conf, top, tier="unclear")


def span_probs(vlm, uri: str, sha256: str, windows_ms: np.ndarray, glosses: Sequence[str], rep: np.ndarray,
               settings) -> np.ndarray:
    """(S, C) probabilities over ``glosses`` for each time window of one video (frames read from ``uri``)."""
    from signbridge.recognize.vlm_frames import frame_times, local_video, span_frames

    out = np.zeros((len(windows_ms), len(glosses)), np.float64)
    if len(windows_ms) == 0:
        return out
    times = frame_times(windows_ms, settings.vlm_frames)
    bs = max(1, int(settings.vlm_batch_size))
    idx: list[int] = []
    batch: list[list[np.ndarray]] = []

    def flush() -> None:
        if batch:
            out[idx] = candidate_probs(vlm.loglik(batch, glosses))
            idx.clear()
            batch.clear()

    with local_video(uri, settings, sha256 or None) as path:
        for s, frames in span_frames(path, times, settings.vlm_image_side, source=uri):
            idx.append(s)
            batch.append(frames)
            if len(batch) >= bs:
                flush()
        flush()
    return pool(out, rep)


class _Setup:
    """What every span decision of one call shares: the model, the candidates and the cut-off."""

    def __init__(self, rec, settings, vocabulary: Sequence[str] | None):
        from signbridge.recognize.vlm_model import load_vlm_recognizer

        self.vlm = load_vlm_recognizer(settings)  # before any video is read: a bad setting fails once
        self.glosses = candidate_glosses(rec, vocabulary)
        self.rep = representatives(self.glosses, rec.calibration.get("same_signs", []))
        self.shown = float(settings.vlm_min_confidence)
        self.name, self.version = f"vlm:{_display_name(self.vlm.name)}", self.vlm.identity[:12]
        self.settings = settings

    def probs(self, plan, windows_ms: np.ndarray) -> np.ndarray:
        video = str(plan.frames.meta.get("source_uri") or plan.source)
        return span_probs(self.vlm, video, plan.sha256, windows_ms, self.glosses, self.rep, self.settings)


def recognize_with_vlm(plans, rec, settings, vocabulary: Sequence[str] | None = None) -> list[GlossTrack]:
    """Gloss tracks with the VLM deciding every span of each :class:`~signbridge.recognize.plans.Plan`.

    ``rec`` is the landmark checkpoint (shown vocabulary, same-sign groups). A video gone from its URI raises
    for that video (the pipeline then retries its videos one by one)."""
    from signbridge.recognize.plans import status_of

    st = _Setup(rec, settings, vocabulary)
    tracks: list[GlossTrack] = []
    for plan in plans:
        probs = st.probs(plan, plan.core)
        spans = [_decide(probs[s], st.glosses, st.shown, t0, t1) for s, (t0, t1) in enumerate(plan.spans)]
        track = GlossTrack(source_uri=plan.source, sha256=plan.sha256, model_name=st.name, model_version=st.version,
                           spans=spans, duration_ms=plan.frames.duration_ms,
                           vocabulary_sha256=vocabulary_sha256(st.glosses),
                           thresholds={"shown": st.shown})
        track.status, track.status_reason = status_of(track, plan.frames)
        tracks.append(track)
    return tracks


def decide_unclear(tracks: list[GlossTrack], plans, rec, settings, vocabulary: Sequence[str] | None = None
                   ) -> list[GlossTrack]:
    """``hybrid``: the classifier's tracks, with the VLM deciding the spans they leave unclear (a span the VLM
    cannot decide either stays as it was). The track names both models and both cut-offs."""
    from signbridge.recognize.plans import status_of

    st = _Setup(rec, settings, vocabulary)
    for track, plan in zip(tracks, plans):
        unclear = [i for i, s in enumerate(track.spans) if s.tier == "unclear"]
        windows = np.array([_core_within(plan, track.spans[i]) for i in unclear]).reshape(-1, 2)
        probs = st.probs(plan, windows)
        for row, i in enumerate(unclear):
            s = track.spans[i]
            decided = _decide(probs[row], st.glosses, st.shown, s.start_ms, s.end_ms)
            if decided.tier != "unclear":
                track.spans[i] = decided
        track.model_name = f"{track.model_name}+{st.name}"
        track.model_version = f"{track.model_version}+{st.version}"
        track.thresholds = {**(track.thresholds or {}), "vlm_shown": st.shown}
        track.status, track.status_reason = status_of(track, plan.frames)
    return tracks


def _core_within(plan, span: GlossSpan) -> tuple[float, float]:
    """The signing part of a reported span: the cores of the segments inside it (a merged spelling covers
    several), else the span itself."""
    inside = (plan.spans[:, 0] >= span.start_ms - 1e-6) & (plan.spans[:, 1] <= span.end_ms + 1e-6)
    if not inside.any():
        return float(span.start_ms), float(span.end_ms)
    return float(plan.core[inside, 0].min()), float(plan.core[inside, 1].max())
