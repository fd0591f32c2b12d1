"""Typed records that cross stage boundaries, mirroring the JSON contracts.

``to_dict`` always validates against ``schemas/``, and ``from_dict`` validates
before building, so a malformed document is caught where it is read, with its
source named, not three stages later.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from signbridge.contracts import validate_document
from signbridge.errors import InputError

SpanKind = Literal["gloss", "fingerspelling", "unknown"]
Tier = Literal["plain", "uncertain", "unclear"]
UNKNOWN = "UNKNOWN"
NO_SIGNING = "no_signing_recognised"


@dataclass
class TopK:
    label: str
    prob: float


@dataclass
class GlossSpan:
    start_ms: float
    end_ms: float
    label: str
    kind: SpanKind
    confidence: float
    top_k: list[TopK] = field(default_factory=list)
    tier: Tier | None = None  # how the word may be shown; None in tracks written before tiers existed
    script_word: str | None = None  # with a script: the script's word placed here (its own spelling)
    script_index: int | None = None  # its position among the script's signs
    alignment_confidence: float | None = None

    @property
    def uncertain(self) -> bool:
        return self.kind == "unknown" or self.tier in ("uncertain", "unclear")


_OPTIONAL_SPAN = ("tier", "script_word", "script_index", "alignment_confidence")


@dataclass
class GlossTrack:
    source_uri: str
    sha256: str
    model_name: str
    model_version: str
    spans: list[GlossSpan] = field(default_factory=list)
    duration_ms: float | None = None
    vocabulary_sha256: str | None = None
    min_confidence: float | None = None
    thresholds: dict[str, float] | None = None
    status: str | None = None  # "signing_recognised" or NO_SIGNING
    status_reason: str | None = None
    hints: dict[str, Any] | None = None  # the word list or script used, what matched, what was not placed

    @property
    def no_signing_recognised(self) -> bool:
        """No span is shown as a word (no spans, or all of them ``[unclear sign]``)."""
        return not any(s.kind != "unknown" and s.tier != "unclear" for s in self.spans)

    def to_dict(self) -> dict[str, Any]:
        src: dict[str, Any] = {"uri": self.source_uri, "sha256": self.sha256}
        if self.duration_ms is not None:
            src["duration_ms"] = self.duration_ms
        model: dict[str, Any] = {"name": self.model_name, "version": self.model_version}
        if self.vocabulary_sha256:
            model["vocabulary_sha256"] = self.vocabulary_sha256
        if self.min_confidence is not None:
            model["min_confidence"] = self.min_confidence
        if self.thresholds is not None:
            model["thresholds"] = self.thresholds
        spans = [{k: v for k, v in dataclasses.asdict(s).items() if v is not None or k not in _OPTIONAL_SPAN}
                 for s in self.spans]
        doc = {"schema_version": "1.0", "source": src, "model": model, "spans": spans}
        if self.status is not None:
            doc["recognition"] = {"status": self.status, "reason": self.status_reason or ""}
        if self.hints:
            doc["hints"] = self.hints
        return dict(validate_document("gloss_track", doc))

    @classmethod
    def read(cls, path: str | Path) -> "GlossTrack":
        """A gloss track from a JSON file, or an InputError naming the file and what is wrong."""
        return cls.from_dict(read_json_file(path, "gloss track", hint="pass the gloss_track.json that `signbridge recognize` writes"), source=str(path))

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str | None = None) -> "GlossTrack":
        validate_document("gloss_track", doc, source)
        spans = [GlossSpan(start_ms=s["start_ms"], end_ms=s["end_ms"], label=s["label"], kind=s["kind"],
                           confidence=s["confidence"], top_k=[TopK(**t) for t in s["top_k"]], tier=s.get("tier"),
                           **{k: s[k] for k in _OPTIONAL_SPAN if k != "tier" and k in s})
                 for s in doc["spans"]]
        m = doc["model"]
        rec = doc.get("recognition", {})
        return cls(source_uri=doc["source"]["uri"], sha256=doc["source"]["sha256"], model_name=m["name"],
                   model_version=m["version"], spans=spans, duration_ms=doc["source"].get("duration_ms"),
                   vocabulary_sha256=m.get("vocabulary_sha256"), min_confidence=m.get("min_confidence"),
                   thresholds=m.get("thresholds"), status=rec.get("status"), status_reason=rec.get("reason"),
                   hints=doc.get("hints"))


@dataclass
class Sentence:
    start_ms: float
    end_ms: float
    text: str
    span_indices: list[int]
    confidence: float
    uncertain: bool
    glosses: list[str] = field(default_factory=list)


@dataclass
class Transcript:
    source_uri: str
    sha256: str
    backend: str
    model: str
    prompt_version: str
    sentences: list[Sentence] = field(default_factory=list)
    fallback_from: str | None = None
    # this run's sentences that the rules grammar wrote because the configured composer could not (why -> how
    # many); run information for the manifest and the run summary, not part of transcript.json
    fallbacks: dict[str, int] = field(default_factory=dict)

    @property
    def no_signing(self) -> bool:
        return not self.sentences

    def to_dict(self) -> dict[str, Any]:
        doc = {"schema_version": "1.0", "source": {"uri": self.source_uri, "sha256": self.sha256},
               "composer": {"backend": self.backend, "model": self.model, "prompt_version": self.prompt_version,
                            "fallback_from": self.fallback_from},
               "no_signing": self.no_signing,
               "sentences": [dataclasses.asdict(s) for s in self.sentences]}
        return dict(validate_document("transcript", doc))

    @classmethod
    def read(cls, path: str | Path) -> "Transcript":
        """A transcript from a JSON file, or an InputError naming the file and what is wrong."""
        return cls.from_dict(read_json_file(path, "transcript"), source=str(path))

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str | None = None) -> "Transcript":
        validate_document("transcript", doc, source)
        c = doc["composer"]
        return cls(source_uri=doc["source"]["uri"], sha256=doc["source"]["sha256"], backend=c["backend"],
                   model=c["model"], prompt_version=c["prompt_version"], fallback_from=c.get("fallback_from"),
                   sentences=[Sentence(**s) for s in doc["sentences"]])


@dataclass
class VideoResult:
    input_uri: str
    status: Literal["ok", "failed", "skipped", "no_signer", "no_signing"] = "ok"
    sha256: str | None = None
    error: str | None = None
    failed_stage: str | None = None
    stage_timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    detection: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass
class RunManifest:
    videos: list[VideoResult] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-")
                        + uuid.uuid4().hex[:6])
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat())
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        doc = {"schema_version": "1.0", "run_id": self.run_id, "created_at": self.created_at,
               "settings": json.loads(json.dumps(self.settings, default=str)),
               "videos": [dataclasses.asdict(v) for v in self.videos]}
        return dict(validate_document("manifest", doc))

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str | None = None) -> "RunManifest":
        validate_document("manifest", doc, source)
        return cls(videos=[VideoResult(**v) for v in doc["videos"]], run_id=doc["run_id"],
                   created_at=doc["created_at"], settings=doc.get("settings", {}))


def read_json_file(path: str | Path, what: str, hint: str | None = None) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} not found", source=str(p))
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not a JSON {what} ({e})", source=str(p), hint=hint) from None
