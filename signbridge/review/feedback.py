"""Corrections feed the product: reviewed spans become few-shot vocabulary and a labelled landmark dataset.

Only spans a reviewer labelled (source ``reviewer``) in the newest revision of each
video count, and never UNKNOWN: a label the model gave and nobody touched is not a
human label. Each span's landmarks are the rows of the video's ``landmarks.parquet``
whose timestamp falls inside the span.
"""
from __future__ import annotations

import datetime as _dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from signbridge.errors import InputError
from signbridge.records import UNKNOWN
from signbridge.review import revisions as rv
from signbridge.review.results import Results
from signbridge.settings import Settings

LANDMARKS = "landmarks.parquet"


@dataclass
class ReviewedSpan:
    clip_id: str  # <folder>-<span number>
    folder: str
    revision: str
    reviewer: str
    label: str
    kind: str
    start_ms: float
    end_ms: float
    model_label: str | None  # what the machine said for a span at the same place, if any
    new_gloss: bool
    source_uri: str
    sha256: str


def reviewed_spans(results: Results) -> Iterator[ReviewedSpan]:
    for v in results.videos():
        folder = results.store.child(v["id"])
        rid, doc = rv.latest(folder)
        if rid is None:
            continue
        model = rv.original_track(folder).spans
        r = doc["review"]
        for i, (s, src) in enumerate(zip(doc["spans"], r["sources"])):
            if src != "reviewer" or s["label"] == UNKNOWN or s["kind"] == "unknown":
                continue
            before = next((m.label for m in model if m.start_ms <= s["start_ms"] < m.end_ms), None)
            yield ReviewedSpan(clip_id=f"{v['id']}-{i:03d}", folder=v["id"], revision=rid, reviewer=r["reviewer"],
                               label=s["label"], kind=s["kind"], start_ms=float(s["start_ms"]),
                               end_ms=float(s["end_ms"]), model_label=before,
                               new_gloss=s["label"] in (r.get("new_glosses") or []),
                               source_uri=doc["source"]["uri"], sha256=doc["source"]["sha256"])


def span_table(results: Results, span: ReviewedSpan, cache: dict[str, Any]):
    """The landmark rows of ``span`` (the contract's columns and metadata), read once per video."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if span.folder not in cache:
        cache.clear()  # one video's landmarks in memory at a time
        cache[span.folder] = pq.read_table(pa.BufferReader(results.store.child(span.folder).get_bytes(LANDMARKS)))
    t = cache[span.folder]
    ts = t.column("timestamp_ms")
    return t.filter(pc.and_(pc.greater_equal(ts, span.start_ms), pc.less(ts, span.end_ms)))


def add_from_reviews(results_uri: str, settings: Settings) -> dict[str, Any]:
    """Add every gloss reviewers declared new to the few-shot vocabulary, from its reviewed spans."""
    import pyarrow.parquet as pq

    from signbridge.recognize.vocab import MAX_CLIPS, add_gloss

    results = Results(results_uri, settings)
    vocab = set(rv.vocabulary(settings))
    by_gloss: dict[str, list[ReviewedSpan]] = {}
    for s in reviewed_spans(results):
        if s.new_gloss and s.label not in vocab:
            by_gloss.setdefault(s.label, []).append(s)
    added, cache = [], {}
    with tempfile.TemporaryDirectory(prefix="signbridge-vocab-") as tmp:
        for gloss, spans in sorted(by_gloss.items()):
            paths = []
            for s in spans[:MAX_CLIPS]:
                t = span_table(results, s, cache)
                if t.num_rows:
                    paths.append(str(Path(tmp) / f"{s.clip_id}.parquet"))
                    pq.write_table(t, paths[-1])
            if paths:
                added.append({**add_gloss(gloss, paths, settings), "spans": [s.clip_id for s in spans[:MAX_CLIPS]]})
    return {"results": results.uri, "added": added, "already_in_vocabulary": sorted(vocab & set(by_gloss))}


def export_reviews(results_uri: str, output: str, settings: Settings, *, name: str | None = None) -> dict[str, Any]:
    """Reviewed spans as ``data/train/<clip_id>.parquet`` (frames with ``video_id``, ``label``, ``split``) +
    ``videos/train.parquet`` + card, the layout of ``dataset build``. One split: signers are not known here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from signbridge import __version__
    from signbridge.extract.dataset import PARQUET, drop_stale, frames_table
    from signbridge.storage import open_store

    results = Results(results_uri, settings)
    spans = list(reviewed_spans(results))
    if not spans:
        raise InputError("no reviewed spans with a label in these results", source=results.uri,
                         hint="review videos with `signbridge review` and save a revision first")
    store = open_store(output, settings, create=True)
    rows, cache = [], {}
    with tempfile.TemporaryDirectory(prefix="signbridge-ds-") as tmp:
        for s in spans:
            t = span_table(results, s, cache)
            if not t.num_rows:
                continue
            key = f"data/train/{s.clip_id}.parquet"
            pq.write_table(frames_table(t, s.clip_id, s.label, "train"), Path(tmp) / "f.parquet", compression="zstd")
            store.put_file(key, Path(tmp) / "f.parquet", PARQUET)
            rows.append({**s.__dict__, "split": "train", "frames": t.num_rows, "path": key})
        if not rows:
            raise InputError("the reviewed spans hold no landmark frames", source=results.uri)
        pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), Path(tmp) / "videos.parquet")
        store.put_file("videos/train.parquet", Path(tmp) / "videos.parquet", PARQUET)
    drop_stale(store, {r["path"] for r in rows} | {"videos/train.parquet"})
    per_label: dict[str, int] = {}
    for r in rows:
        per_label[r["label"]] = per_label.get(r["label"], 0) + 1
    card = {"name": name or Path(output.rstrip("/")).name or "signbridge-reviews",
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(), "created_by": f"signbridge {__version__}",
            "results": results.uri,
            "layout": {"frames": "data/train/<clip_id>.parquet (zstd)", "videos": "videos/train.parquet"},
            "counts": {"clips": len(rows), "frames": sum(r["frames"] for r in rows), "labels": len(per_label),
                       "videos": len({r["folder"] for r in rows}), "corrected": sum(
                           1 for r in rows if r["model_label"] != r["label"])},
            "per_label": dict(sorted(per_label.items())),
            "reviewers": sorted({r["reviewer"] for r in rows})}
    store.put_bytes("dataset.json", json.dumps(card, indent=2).encode(), "application/json")
    store.put_bytes("README.md", _card_md(card).encode(), "text/markdown")
    return card


def _card_md(card: dict[str, Any]) -> str:
    from signbridge.extract.dataset_card import hub_header

    c = card["counts"]
    header = hub_header(card["name"], {"train": {}}, [None], c["frames"])
    lines = [header + f"# {card['name']}", "",
             f"Reviewed sign spans exported by {card['created_by']} on {card['created_at'][:10]} from "
             f"`{card['results']}`.", "",
             f"**{c['clips']} clips, {c['frames']} frames, {c['labels']} labels** from {c['videos']} videos; "
             f"{c['corrected']} clips carry a label the reviewer changed from the model's.", "",
             "## Layout", "",
             "- `data/train/<clip_id>.parquet`: one row per sampled frame of the span: `video_id` (the clip id), "
             "`label`, `split`, then the landmarks contract's columns (`schemas/landmarks.v1.json`; each part's "
             "field metadata gives its `points` and `dims`). One split, `train`: the reviews do not say who signed.",
             "- `videos/train.parquet`: one row per clip: label, kind, span times, the model's label at that place, "
             "revision, reviewer, source video and sha256.", "",
             "Only spans a reviewer labelled count (never UNKNOWN); each label is a person's judgement, not a "
             "verified ground truth.", "",
             "## Labels", "", "| label | clips |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in card["per_label"].items()]
    lines += ["", "Reviewers: " + ", ".join(card["reviewers"])]
    return "\n".join(lines) + "\n"
