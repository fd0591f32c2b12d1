"""Gloss tracks -> transcripts: grouping, one batched backend call per run, guard, cache, fallback.

The backend is chosen by ``settings.composer``. Whatever happens to an LLM
backend (not installed, unreachable, a sentence that fails the guard), the run
still produces a transcript: the rules grammar fills in, and the transcript
records ``fallback_from`` when a whole backend was replaced.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

from signbridge.compose.backend import Backend, BackendUnavailable, Item
from signbridge.compose.cache import ComposeCache, cache_key
from signbridge.compose.gloss import split_gloss
from signbridge.compose.fitting import caption_groups, fits, item_spans
from signbridge.compose.guard import Verdict, check
from signbridge.compose.rules import compose_rules
from signbridge.errors import ConfigError, ModelError
from signbridge.records import UNKNOWN, GlossTrack, Sentence, Transcript
from signbridge.settings import Settings

log = logging.getLogger(__name__)

RULES_MODEL = "signbridge-rules"
RULES_VERSION = "r1"


@dataclass
class ComposeStats:
    backend: str = "rules"
    model: str = RULES_MODEL
    prompt_version: str = RULES_VERSION
    fallback_from: str | None = None
    items: int = 0
    cached: int = 0
    generated: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    rejections: list[str] = field(default_factory=list)
    fallbacks: dict[int, str] = field(default_factory=dict)  # item -> why its sentence is the rules grammar's

    def fall_back(self, indices, reason: str) -> None:
        for i in indices:
            self.fallbacks.setdefault(i, reason)


def make_backend(settings: Settings) -> Backend | None:
    name = settings.composer
    if name == "rules":
        return None
    if name == "local":
        from signbridge.compose.local import LocalBackend

        return LocalBackend(settings)
    if name == "vllm":
        from signbridge.compose.vllm_backend import make_vllm_backend

        return make_vllm_backend(settings)
    raise ConfigError(f"SIGNBRIDGE_COMPOSER={name!r} is not one of rules, local, vllm")


def compose_items(items: list[Item], settings: Settings, backend: Backend | None = None,
                  use_cache: bool = True) -> tuple[list[str], ComposeStats]:
    """Sentences for ``items`` (drafts filled in), in order, plus what happened."""
    t0 = time.perf_counter()
    stats = ComposeStats(items=len(items))
    for it in items:
        it.draft = compose_rules(it.labels, it.confidences, low=settings.low_confidence)
    texts = [it.draft for it in items]
    if settings.composer == "rules" and backend is None:
        stats.seconds = time.perf_counter() - t0
        return texts, stats
    signed = [i for i, it in enumerate(items) if it.labels]
    try:
        backend = backend or make_backend(settings)
    except (BackendUnavailable, ModelError) as e:
        log.warning("composer %s unavailable (%s); using the rules grammar", settings.composer, e)
        stats.fallback_from = settings.composer
        stats.fall_back(signed, f"composer {settings.composer} unavailable: {e}")
        stats.seconds = time.perf_counter() - t0
        return texts, stats
    assert backend is not None
    stats.backend, stats.model, stats.prompt_version = backend.name, backend.model, backend.prompt_version
    cache = ComposeCache.for_home(settings.home) if use_cache else None
    keys = [cache_key(it.labels, it.confidences, backend.name, backend.model, backend.prompt_version) for it in items]
    raw: list[str | None] = [None] * len(items)
    todo: list[int] = []
    for i, k in enumerate(keys):
        hit = cache.get(k) if cache else None
        if hit is not None and "text" in hit:
            raw[i] = hit["text"]
            stats.cached += 1
        elif items[i].labels:
            todo.append(i)
    if todo:
        try:
            outs = backend.generate([items[i] for i in todo])  # ONE batched call for the whole run
        except (BackendUnavailable, ModelError) as e:
            log.warning("composer %s failed (%s); using the rules grammar", backend.name, e)
            stats.backend, stats.model, stats.prompt_version = "rules", RULES_MODEL, RULES_VERSION
            stats.fallback_from = settings.composer
            stats.fall_back(signed, f"composer {backend.name} failed: {e}")
            stats.seconds = time.perf_counter() - t0
            return texts, stats
        errors = list(getattr(backend, "errors", None) or [])  # the backend's reason for each None, if it says
        for n, (i, out) in enumerate(zip(todo, outs)):
            if out is None:
                stats.fall_back([i], f"{backend.name}: {errors[n] if n < len(errors) and errors[n] else 'no sentence'}")
            raw[i] = out
            stats.generated += 1
            if out is not None and cache:
                cache.put(keys[i], {"text": out, "glosses": items[i].labels, "backend": backend.name,
                                    "model": backend.model, "prompt_version": backend.prompt_version})
    for i, out in enumerate(raw):
        if not items[i].labels:
            continue
        if out is None:
            stats.failed += 1
            stats.fall_back([i], f"{backend.name}: no sentence")
            continue
        it = items[i]
        verdict = check(out, it.labels, it.draft, it.confidences, settings.low_confidence)
        if verdict.ok and it.starts_ms and not fits(_finish(out), item_spans(it.labels, it.confidences, it.starts_ms,
                                                                             it.ends_ms), settings):
            verdict = Verdict(False, "word order the captions cannot follow sign by sign")
        if verdict.ok:
            texts[i] = _finish(out)
        else:
            stats.rejected += 1
            stats.fall_back([i], f"the guard rejected the {backend.name} sentence ({verdict.reason})")
            stats.rejections.append(f"{' '.join(items[i].labels)!r} -> {out!r}: {verdict.reason}")
            log.info("guard rejected %s output for %s: %s", backend.name, items[i].labels, verdict.reason)
    stats.seconds = time.perf_counter() - t0
    return texts, stats


def _finish(text: str) -> str:
    text = " ".join(text.split())
    if text and text[-1] not in ".?!":
        text += "."
    return text[:1].upper() + text[1:] if text and not text.startswith("[") else text


def compose_text(gloss: str, settings: Settings) -> str:
    """One gloss string (whitespace separated) -> one sentence; for the CLI and quick checks."""
    labels = split_gloss(gloss)
    texts, _ = compose_items([Item(labels=labels, confidences=[1.0] * len(labels))], settings)
    return texts[0]


def compose_tracks(tracks: Sequence[GlossTrack], settings: Settings, *, backend: Backend | None = None,
                   use_cache: bool = True, stats_out: list[ComposeStats] | None = None) -> list[Transcript]:
    """One transcript per gloss track; all sentence groups of all tracks go to the backend in one call.

    A track aligned to a script gets the script's own text (:mod:`signbridge.compose.script`), not the backend's."""
    from signbridge.compose.script import is_scripted, script_transcript

    scripted = {i: script_transcript(t) for i, t in enumerate(tracks) if is_scripted(t)}
    if scripted:
        rest = [t for i, t in enumerate(tracks) if i not in scripted]
        composed = iter(compose_tracks(rest, settings, backend=backend, use_cache=use_cache, stats_out=stats_out)
                        if rest else [])
        return [scripted[i] if i in scripted else next(composed) for i in range(len(tracks))]
    low = getattr(settings, "low_confidence", 0.6)
    plan: list[tuple[int, list[int]]] = []
    items: list[Item] = []
    for ti, track in enumerate(tracks):
        for group in caption_groups(track.spans, settings):
            spans = [track.spans[i] for i in group]
            plan.append((ti, group))
            items.append(Item(labels=[s.label if s.kind != "unknown" else UNKNOWN for s in spans],
                              confidences=[float(s.confidence) for s in spans],
                              starts_ms=[float(s.start_ms) for s in spans], ends_ms=[float(s.end_ms) for s in spans]))
    texts, stats = compose_items(items, settings, backend=backend, use_cache=use_cache)
    if stats_out is not None:
        stats_out.append(stats)
    out: list[Transcript] = []
    for ti, track in enumerate(tracks):
        sentences = []
        fallbacks: dict[str, int] = {}
        for n, ((t_idx, group), item, text) in enumerate(zip(plan, items, texts)):
            if t_idx != ti or not text:
                continue
            if n in stats.fallbacks:
                fallbacks[stats.fallbacks[n]] = fallbacks.get(stats.fallbacks[n], 0) + 1
            spans = [track.spans[i] for i in group]
            conf = sum(item.confidences) / len(item.confidences)
            uncertain = any(s.uncertain or s.label == UNKNOWN or (s.tier is None and s.confidence < low) for s in spans)
            sentences.append(Sentence(start_ms=float(min(s.start_ms for s in spans)),
                                      end_ms=float(max(s.end_ms for s in spans)), text=text,
                                      span_indices=list(group), confidence=round(min(max(conf, 0.0), 1.0), 4),
                                      uncertain=uncertain, glosses=list(item.labels)))
        sentences.sort(key=lambda s: s.start_ms)
        out.append(Transcript(source_uri=track.source_uri, sha256=track.sha256, backend=stats.backend,
                              model=stats.model, prompt_version=stats.prompt_version, sentences=sentences,
                              fallback_from=stats.fallback_from, fallbacks=fallbacks))
    return out
