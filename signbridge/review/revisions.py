"""Reviewed gloss tracks, stored as revisions next to a video's results.

A revision is a gloss track document (``schemas/gloss_track.v1``) plus a ``review``
block: who, when, which revision it was based on, and for every span whether its
label came from the ``model`` or a ``reviewer``. Revisions live under
``<folder>/review/revisions/<id>.json``; the machine's ``gloss_track.json`` is never
overwritten. An id starts with the save time in nanoseconds and ends with a random
part, so two saves of the same video at the same moment both land (each is one
atomic put of a new object) and sort in the order they were made.

A gloss track edited by hand usually changes only a span's ``label``: its ``kind``,
``tier`` and ``confidence`` still say what the model said (``unknown`` / ``unclear``), and
the edit must not come out as ``[unclear sign]``. So a span whose label differs from the
model's is the reviewer's word, as the review page saves it: the model's kind, tier and
confidence it still carries are replaced (and said so); a field the person also changed
must agree with the label, or the edit is refused naming the span.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from signbridge.errors import InputError, SchemaError
from signbridge.pipeline.layout import GLOSS_TRACK
from signbridge.records import UNKNOWN, GlossTrack

REVIEW = "review"
REVISIONS = "review/revisions"
SOURCES = ("model", "reviewer")
# a reviewer may name a sign outside the vocabulary only by listing it as new (lower-case words, as `vocab add`)
NEW_GLOSS = re.compile(r"[a-z0-9][a-z0-9' -]{0,40}")
FINGERSPELLING = re.compile(r"fs-[A-Z]+")
REVISION_ID = re.compile(r"r\d{20}-[0-9a-f]{8}")
EDGE_MS = 100.0  # spans may reach this far past the probed duration (the last frame's length)


@dataclass
class Reviewed:
    """A checked reviewed track: the spans, where each label came from, and the glosses declared new."""

    track: GlossTrack
    sources: list[str]
    new_glosses: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # model fields of relabelled spans that were replaced


def vocabulary(settings) -> list[str]:
    """Every label the recogniser can output: trained classes and few-shot additions (no model is loaded)."""
    from signbridge.recognize.checkpoint import checkpoint_dir, fewshot_path, read_config

    labels = list(read_config(checkpoint_dir(settings))["labels"])
    fs = fewshot_path(settings)
    if fs.is_file():
        try:
            labels += sorted(json.loads(fs.read_text()).get("glosses", {}))
        except ValueError:
            pass  # recognition names a broken few-shot file with its own error; the trained labels still count
    return sorted(set(labels))


def parse_reviewed(raw: bytes | str | dict, original: GlossTrack, vocab: set[str], source: str) -> Reviewed:
    """Check an edited gloss track against the video's original track; any problem names ``source``."""
    if isinstance(raw, dict):
        doc = raw
    else:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(f"not a JSON document ({e})", source=source,
                             hint="give a gloss track as written by `signbridge recognize` or the review page") from None
    if not isinstance(doc, dict):
        raise InputError("not a gloss track: the document is not a JSON object", source=source)
    try:
        track = GlossTrack.from_dict(doc, source=source)
    except SchemaError as e:
        raise InputError(e.message, source=source, hint="the gloss track format is schemas/gloss_track.v1.schema.json") from None
    if track.sha256 != original.sha256:
        raise InputError(f"this track is for another video (sha256 {track.sha256[:16]}), the result folder holds "
                         f"{original.sha256[:16]}", source=source, hint="edit the gloss_track.json of this folder")
    review = doc.get("review") or {}
    if not isinstance(review, dict):
        raise InputError("'review' must be an object", source=source)
    sources = review.get("sources") or ["model"] * len(track.spans)
    new = review.get("new_glosses") or []
    if len(sources) != len(track.spans) or any(s not in SOURCES for s in sources):
        raise InputError(f"review.sources must give 'model' or 'reviewer' for each of the {len(track.spans)} spans",
                         source=source)
    if not isinstance(new, list) or not all(isinstance(g, str) and NEW_GLOSS.fullmatch(g) for g in new):
        raise InputError("review.new_glosses must be lower-case gloss names (letters, digits, spaces, - or ')",
                         source=source)
    sources = list(sources)
    notes = _relabelled(track, original, sources, source)
    duration = original.duration_ms or track.duration_ms
    _check_spans(track, duration, vocab | set(new), source)
    track.duration_ms = original.duration_ms
    track.source_uri = original.source_uri
    return Reviewed(track=track, sources=sources, new_glosses=sorted(set(new)), meta=dict(review), notes=notes)


def _kind_of(label: str) -> str:
    return "unknown" if label == UNKNOWN else "fingerspelling" if label.startswith("fs-") else "gloss"


def _where(i: int, s) -> str:
    return f"span {i} ({s.start_ms:.0f}-{s.end_ms:.0f} ms, {s.label!r})"


def _relabelled(track: GlossTrack, original: GlossTrack, sources: list[str], source: str) -> list[str]:
    """Spans whose label is not the model's (changed, or a span the model did not have) become the reviewer's
    word: kind, tier and confidence still holding the model's values are replaced; ones the person set too
    must agree with the label. Returns what was replaced, per span; raises naming a contradictory span."""
    model = {(round(s.start_ms), round(s.end_ms)): s for s in original.spans}
    notes: list[str] = []
    for i, s in enumerate(track.spans, 1):
        was = model.get((round(s.start_ms), round(s.end_ms)))
        if was is not None and s.label == was.label:
            if s.label == UNKNOWN and s.tier not in (None, "unclear"):
                raise InputError(f"{_where(i, s)}: tier {s.tier!r} but label UNKNOWN: an unclear span cannot be "
                                 f"shown", source=source, hint="give the span a label, or tier 'unclear'")
            continue
        kind = _kind_of(s.label)
        replaced: list[str] = []
        if s.kind != kind:
            if was is None or s.kind != was.kind:
                raise InputError(f"{_where(i, s)}: kind {s.kind!r} does not go with label {s.label!r}", source=source,
                                 hint=f"use kind {kind!r}, or leave the model's kind: a changed label sets it")
            replaced.append(f"kind {s.kind!r} -> {kind!r}")
            s.kind = kind  # type: ignore[assignment]
        tier = "unclear" if kind == "unknown" else None  # a reviewer's word has no model tier
        if s.tier != tier:
            stale = was is not None and s.tier == was.tier
            if s.tier == "unclear" and not stale:
                raise InputError(f"{_where(i, s)}: tier 'unclear' with a label: an unclear span is labelled UNKNOWN",
                                 source=source, hint="remove the tier (a reviewer's word is shown), or label it UNKNOWN")
            if stale or kind == "unknown":
                replaced.append(f"tier {s.tier!r} -> {tier!r}" if tier else f"the model's tier {s.tier!r} removed")
                s.tier = tier  # type: ignore[assignment]
        if was is not None and s.confidence == was.confidence:
            s.confidence = 0.0 if kind == "unknown" else 1.0  # as the review page saves a reviewer's word
            replaced.append(f"confidence {was.confidence:g} -> {s.confidence:g}")
        if sources[i - 1] != "reviewer":
            sources[i - 1] = "reviewer"
            replaced.append("source 'model' -> 'reviewer'")
        if replaced:
            before = f"label {was.label!r} -> {s.label!r}" if was is not None else "a span the model did not have"
            notes.append(f"{_where(i, s)}: {before} by hand, so {', '.join(replaced)}")
    return notes


def _check_spans(track: GlossTrack, duration_ms: float | None, vocab: set[str], source: str) -> None:
    prev_end = 0.0
    for i, s in enumerate(track.spans, 1):
        where = f"span {i} ({s.start_ms:.0f}-{s.end_ms:.0f} ms, {s.label!r})"
        if s.end_ms <= s.start_ms:
            raise InputError(f"{where} ends before it starts", source=source)
        if s.start_ms < prev_end - 1.0:
            raise InputError(f"{where} starts before span {i - 1} ends: spans must be in time order and not overlap",
                             source=source)
        if duration_ms and s.end_ms > duration_ms + EDGE_MS:
            raise InputError(f"{where} ends after the video ({duration_ms:.0f} ms)", source=source)
        prev_end = s.end_ms
        if s.kind == "unknown" or s.label == UNKNOWN:
            if s.kind != "unknown":
                raise InputError(f"{where}: kind {s.kind!r} does not go with label UNKNOWN (an unclear span has kind "
                                 f"'unknown')", source=source, hint="give the span a label, or kind 'unknown'")
            if s.label != UNKNOWN:
                raise InputError(f"{where}: kind 'unknown' goes with label UNKNOWN", source=source)
        elif s.kind == "fingerspelling":
            if not FINGERSPELLING.fullmatch(s.label):
                raise InputError(f"{where}: fingerspelling is written fs-LETTERS (e.g. fs-ANNA)", source=source)
        elif s.label not in vocab:
            raise InputError(f"{where}: unknown gloss label {s.label!r} (not in the recogniser's vocabulary)",
                             source=source, hint="use a vocabulary label, UNKNOWN, or list it in review.new_glosses")


def new_revision_id(now_ns: int | None = None) -> str:
    return f"r{now_ns or time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def save_revision(folder, reviewed: Reviewed, *, reviewer: str, based_on: str | None = None,
                  restored_from: str | None = None) -> dict[str, Any]:
    """Store ``reviewed`` as a new revision of the video in ``folder`` (a Store); returns its summary."""
    reviewer = " ".join(str(reviewer or "").split())[:80]
    if not reviewer:
        raise InputError("a revision needs the reviewer's name")
    now_ns = time.time_ns()
    rid = new_revision_id(now_ns)  # the id and created_at come from one clock reading, so both order alike
    created = _dt.datetime.fromtimestamp(now_ns / 1e9, _dt.timezone.utc).isoformat(timespec="milliseconds")
    doc = reviewed.track.to_dict()
    doc["review"] = {"id": rid, "reviewer": reviewer, "created_at": created,
                     "based_on": based_on, "restored_from": restored_from, "sources": list(reviewed.sources),
                     "new_glosses": list(reviewed.new_glosses)}
    folder.put_bytes(f"{REVISIONS}/{rid}.json", (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode(),
                     "application/json")
    return summary(doc)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    r = doc["review"]
    changed = sum(1 for s in r["sources"] if s == "reviewer")
    return {"id": r["id"], "reviewer": r["reviewer"], "created_at": r["created_at"], "based_on": r.get("based_on"),
            "restored_from": r.get("restored_from"), "spans": len(doc["spans"]), "reviewed_spans": changed}


def revision_ids(folder) -> list[str]:
    """Ids of the stored revisions, oldest first."""
    ids = [o.key.rsplit("/", 1)[-1][:-5] for o in folder.list(REVISIONS + "/") if o.key.endswith(".json")]
    return sorted(i for i in ids if REVISION_ID.fullmatch(i))


def load_revision(folder, rid: str) -> dict[str, Any]:
    if not REVISION_ID.fullmatch(rid or ""):
        raise InputError(f"{rid!r} is not a revision id")
    if not folder.exists(f"{REVISIONS}/{rid}.json"):
        raise InputError(f"no revision {rid}", source=folder.uri(REVISIONS))
    return json.loads(folder.get_bytes(f"{REVISIONS}/{rid}.json"))


def original_track(folder) -> GlossTrack:
    return GlossTrack.from_dict(json.loads(folder.get_bytes(GLOSS_TRACK)), source=folder.uri(GLOSS_TRACK))


def latest(folder) -> tuple[str | None, dict[str, Any]]:
    """(revision id, gloss track document) of the newest revision, or (None, the machine's track)."""
    ids = revision_ids(folder)
    if ids:
        return ids[-1], load_revision(folder, ids[-1])
    return None, json.loads(folder.get_bytes(GLOSS_TRACK))
