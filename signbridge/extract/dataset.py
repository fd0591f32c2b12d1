"""``signbridge dataset build``: labelled videos → a Parquet dataset with splits and a card.

Layout (one table to ``datasets.load_dataset``, ``pyarrow.dataset``, pandas and DuckDB)::

    OUT/data/<split>/<video_id>.parquet   one row per sampled frame: video_id, label, split + landmarks (zstd)
    OUT/videos/<split>.parquet            one row per video: label, signer, source, licence, stats
    OUT/dataset.json, OUT/README.md       the dataset card (README.md with a Hugging Face YAML header)

The label is a column of every frame file, so any reader gets it without a partitioning scheme; the
videos table has its own folder, so a glob over ``data/`` never mixes the two schemas. Splits are
signer-disjoint when the labels file names signers (:mod:`signbridge.extract.splits`).
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from signbridge.errors import InputError
from signbridge.extract.batch import VideoOutcome, run_batch
from signbridge.extract.splits import SIGNER_COLUMNS, SPLIT_COLUMNS, SPLITS, assign_signers, valid_split_name
from signbridge.storage.inputs import InputVideo

FILE_COLUMNS = ("file", "path", "video", "filename", "video_path")
LABEL_COLUMNS = ("label", "gloss", "sign", "class")
LICENCE_COLUMNS = ("licence", "license")
PARQUET = "application/vnd.apache.parquet"
FRAME_KEYS = {"video_id": "the video (a row of videos/<split>.parquet)", "label": "the video's label",
              "split": "train, validation or test (or the labels file's split)"}


@dataclass
class LabelsFile:
    path: str
    rows: list[dict[str, str]]
    file_column: str
    label_column: str
    licence_column: str | None
    columns: list[str] = field(default_factory=list)
    signer_column: str | None = None
    split_column: str | None = None


def load_labels(path: str | Path, settings=None, file_column: str | None = None,
                label_column: str | None = None, signer_column: str | None = None) -> LabelsFile:
    """Read the labels CSV (local or s3://). InputError names the file and the missing column, or the line
    whose split cannot be a split name."""
    src = str(path)
    try:
        if src.startswith("s3://"):
            from signbridge.storage import open_store

            parent, _, key = src.rpartition("/")
            text = open_store(parent, settings).get_bytes(key).decode("utf-8-sig")
        else:
            text = Path(src).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("labels file not found", source=src) from None
    except UnicodeDecodeError:
        raise InputError("labels file is not UTF-8 text", source=src, hint="save it as UTF-8 CSV") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    if not cols:
        raise InputError("labels file is empty or has no header row", source=src)
    reader.fieldnames = cols

    def pick(given: str | None, candidates: tuple[str, ...], what: str, flag: str) -> str:
        if given:
            if given not in cols:
                raise InputError(f"no column {given!r} (columns: {', '.join(cols)})", source=src)
            return given
        lower = {c.lower(): c for c in cols}
        for c in candidates:
            if c in lower:
                return lower[c]
        raise InputError(f"cannot tell which column holds the {what} (columns: {', '.join(cols)})", source=src,
                         hint=f"name one of {', '.join(candidates)} or pass {flag}")

    fcol = pick(file_column, FILE_COLUMNS, "video file", "--file-column")
    lcol = pick(label_column, LABEL_COLUMNS, "label", "--label-column")
    licol = next((c for c in cols if c.lower() in LICENCE_COLUMNS), None)
    if signer_column and signer_column not in cols:
        raise InputError(f"no column {signer_column!r} (columns: {', '.join(cols)})", source=src)
    scol = signer_column or next((c for c in cols if c.lower() in SIGNER_COLUMNS), None)
    spcol = next((c for c in cols if c.lower() in SPLIT_COLUMNS), None)
    rows = [{k: (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    if not rows:
        raise InputError("labels file has a header but no rows", source=src)
    for i, r in enumerate(rows, start=2):
        if spcol and r.get(spcol) and not valid_split_name(r[spcol]):
            raise InputError(f"line {i}: split {r[spcol]!r} is not a split name", source=src,
                             hint=f"use letters, digits and _ (e.g. {', '.join(SPLITS)}), or leave it empty for train")
    return LabelsFile(src, rows, fcol, lcol, licol, cols, scol, spcol)


def _refs(labels: LabelsFile, videos_root: str, settings) -> tuple[list[InputVideo], list[VideoOutcome]]:
    refs: list[InputVideo] = []
    bad: list[VideoOutcome] = []
    seen: Counter[str] = Counter()
    store = None
    if videos_root.startswith("s3://"):
        from signbridge.storage import open_store

        store = open_store(videos_root, settings)
    for i, row in enumerate(labels.rows, start=2):  # line numbers as a spreadsheet shows them
        f, label = row.get(labels.file_column, ""), row.get(labels.label_column, "")
        vid = row.get("video_id") or PurePosixPath(f).stem or f"row{i}"
        seen[vid] += 1
        if seen[vid] > 1:
            vid = f"{vid}-{seen[vid]}"
        extra = {"row": row, "label": label, "video_id": vid}
        uri = f"{videos_root.rstrip('/')}/{f}" if store is not None else str(Path(videos_root) / f)
        ref = InputVideo(uri, vid, extra=extra)
        if not f or not label:
            what = "file" if not f else "label"
            bad.append(VideoOutcome(ref, status="failed",
                                    error=InputError(f"line {i} has an empty {what}", source=labels.path)))
            continue
        if store is not None:
            ref.store, ref.key = store, f
        else:
            ref.local_path = uri
        refs.append(ref)
    return refs, bad


def frames_table(table, video_id: str, label: str, split: str):
    """A landmarks table as dataset rows: ``video_id``, ``label`` and ``split`` columns first, so the frame
    files read as one labelled table anywhere; the contract's columns keep their field metadata (points,
    dims). The per-video file metadata is dropped here: it is a row of the videos table."""
    import pyarrow as pa

    from signbridge.contracts import landmarks_arrow_schema

    contract = landmarks_arrow_schema()  # its field metadata, also on files written before it had points/dims
    fields = [contract.field(f.name) if f.name in contract.names else f for f in table.schema]
    t = pa.Table.from_arrays(table.columns, schema=pa.schema(fields))
    for i, (name, value) in enumerate((("video_id", video_id), ("label", label), ("split", split))):
        t = t.add_column(i, pa.field(name, pa.string(), nullable=False, metadata={"doc": FRAME_KEYS[name]}),
                         pa.array([value] * t.num_rows, pa.string()))
    return t


def _split_plan(labels: LabelsFile, refs: list[InputVideo], settings) -> dict[str, Any]:
    """Each video's split (set on ``ref.extra['split']``) and how it was decided, for the card. Decided from
    the labels file alone, before extraction, so a video's split never depends on which others failed."""
    rows = {r.name: r.extra["row"] for r in refs}
    plan: dict[str, Any] = {"method": "none", "column": None, "shares": None, "unknown_signer": 0}
    if labels.split_column:
        plan.update(method="column", column=labels.split_column)
        split_of = {v: row.get(labels.split_column) or "train" for v, row in rows.items()}
    elif labels.signer_column:
        col = labels.signer_column
        per_signer = Counter(row[col] for row in rows.values() if row.get(col))
        by_signer = assign_signers(per_signer, settings.dataset_validation, settings.dataset_test)
        split_of = {v: by_signer.get(row.get(col) or "", "train") for v, row in rows.items()}
        plan.update(method="signer", column=col, unknown_signer=sum(1 for row in rows.values() if not row.get(col)),
                    shares={"validation": settings.dataset_validation, "test": settings.dataset_test})
    else:
        split_of = {v: "train" for v in rows}
    for r in refs:
        r.extra["split"] = split_of[r.name]
    return plan


def _split_counts(videos: list[dict[str, Any]], plan: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, dict[str, Any]] = {}
    for v in videos:
        d = counts.setdefault(v["split"], {"videos": 0, "frames": 0, "labels": set(), "signers": set()})
        d["videos"] += 1
        d["frames"] += v["frames"]
        d["labels"].add(v["label"])
        if v["signer"]:
            d["signers"].add(v["signer"])
    train = counts.get("train", {}).get("labels", set())
    held_out = set().union(*(d["labels"] for k, d in counts.items() if k != "train"))
    order = sorted(counts, key=lambda k: (SPLITS.index(k) if k in SPLITS else len(SPLITS), k))
    return {**plan, "counts": {k: {"videos": counts[k]["videos"], "frames": counts[k]["frames"],
                                   "labels": len(counts[k]["labels"]), "signers": len(counts[k]["signers"])}
                               for k in order},
            "labels_not_in_train": sorted(held_out - train)}


def drop_stale(store, written: set[str]) -> int:
    """Remove what an earlier build left in ``data/`` and ``videos/`` (a video now in another split, a label
    renamed, the older ``label=<label>/`` layout and its ``videos.parquet``): the folder holds this build only."""
    stale = [o.key for prefix in ("data/", "videos/") for o in store.list(prefix) if o.key not in written]
    stale += [k for k in ("videos.parquet",) if store.exists(k)]
    for key in stale:
        store.delete(key)
    return len(stale)


def _write_videos_tables(store, videos: list[dict[str, Any]], labels: LabelsFile) -> set[str]:
    """``videos/<split>.parquet``: one row per video, the same schema in every split; the labels file's other
    columns are carried over as strings. Returns the keys written."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    known = {labels.file_column, labels.label_column, labels.licence_column, labels.signer_column,
             labels.split_column}
    vt = {k: [v[k] for v in videos] for k in videos[0] if k != "extra"}
    for c in labels.columns:
        if c not in known:
            vt[c if c not in vt else f"labels_{c}"] = [v["extra"].get(c) for v in videos]
    table = pa.table(vt)
    with tempfile.TemporaryDirectory(prefix="signbridge-ds-") as tmp:
        for split in sorted(set(vt["split"])):
            p = Path(tmp) / f"{split}.parquet"
            pq.write_table(table.filter(pc.equal(table.column("split"), split)), p, compression="zstd")
            store.put_file(f"videos/{split}.parquet", p, PARQUET)
    return {f"videos/{split}.parquet" for split in set(vt["split"])}


def build_dataset(labels_path: str, output: str, settings, *, videos_root: str | None = None,
                  workers: int | None = None, progress: bool = False, file_column: str | None = None,
                  label_column: str | None = None, signer_column: str | None = None,
                  name: str | None = None) -> dict[str, Any]:
    """Extract every labelled video and write the dataset + card. Returns the card (dict).

    Long because it is the dataset job from labels to card, step by step, each step a few lines."""
    import pyarrow.parquet as pq

    from signbridge import __version__
    from signbridge.extract.dataset_card import render_card
    from signbridge.extract.holistic import MODEL_COMPLEXITY, mediapipe_version
    from signbridge.storage import open_store

    settings = settings.validate()
    labels = load_labels(labels_path, settings, file_column, label_column, signer_column)
    if videos_root is None:
        videos_root = labels_path.rpartition("/")[0] if labels_path.startswith("s3://") else str(Path(labels_path).parent)
    refs, bad = _refs(labels, videos_root, settings)
    plan = _split_plan(labels, refs, settings)
    store = open_store(output, settings, create=True)
    videos: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []

    def record_failure(o: VideoOutcome) -> None:
        failures.append({"video_id": o.ref.name, "source_uri": o.ref.uri, "label": o.ref.extra.get("label"),
                         "status": o.status, "error": str(o.error) if o.error else None})

    for o in bad:
        record_failure(o)

    def on_done(o: VideoOutcome) -> None:
        if o.status != "ok":
            record_failure(o)
            return
        ex, row, label, split = o.extraction, o.ref.extra["row"], o.ref.extra["label"], o.ref.extra["split"]
        key = f"data/{split}/{o.ref.name}.parquet"
        with tempfile.TemporaryDirectory(prefix="signbridge-ds-") as tmp:
            p = Path(tmp) / "f.parquet"
            pq.write_table(frames_table(ex.table, o.ref.name, label, split), p, compression="zstd",
                           compression_level=6)
            store.put_file(key, p, PARQUET)
        m = ex.meta
        videos.append({
            "video_id": o.ref.name, "label": label, "split": split,
            "signer": row.get(labels.signer_column) or None if labels.signer_column else None,
            "file": row.get(labels.file_column), "source_uri": o.ref.uri,
            "sha256": m["sha256"], "licence": row.get(labels.licence_column) if labels.licence_column else None,
            "frames": ex.stats["frames"], "duration_s": m.get("duration_s"), "fps": m["fps"],
            "width": m["width"], "height": m["height"], "rotation": m["rotation"],
            "pose_rate": ex.stats["pose"], "face_rate": ex.stats["face"], "left_hand_rate": ex.stats["left_hand"],
            "right_hand_rate": ex.stats["right_hand"], "path": key,
            "extra": {k: v for k, v in row.items() if k not in (labels.file_column, labels.label_column)},
        })

    run_batch(refs, settings, workers=workers, progress=progress, on_done=on_done)
    if not videos:
        first = failures[0]["error"] if failures else "no rows"
        raise InputError(f"no video could be extracted ({len(failures)} failed; first: {first})",
                         source=labels.path)
    order = {r.name: i for i, r in enumerate(refs)}
    videos.sort(key=lambda v: order.get(v["video_id"], 0))
    drop_stale(store, {v["path"] for v in videos} | _write_videos_tables(store, videos, labels))

    n_frames = sum(v["frames"] for v in videos)
    per_label: dict[str, dict[str, int]] = {}
    for v in videos:
        d = per_label.setdefault(v["label"], {"videos": 0, "frames": 0})
        d["videos"] += 1
        d["frames"] += v["frames"]
    rates = {}
    for part in ("pose", "face", "left_hand", "right_hand"):
        rates[part] = {
            "mean_per_video": round(sum(v[f"{part}_rate"] for v in videos) / len(videos), 4),
            "share_of_frames": round(sum(v[f"{part}_rate"] * v["frames"] for v in videos) / max(1, n_frames), 4),
        }
    card = {
        "name": name or Path(output.rstrip("/")).name or "signbridge-dataset",
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "created_by": f"signbridge {__version__}",
        "labels_file": labels.path,
        "layout": {"frames": "data/<split>/<video_id>.parquet (zstd)", "videos": "videos/<split>.parquet",
                   "frame_columns": [*FRAME_KEYS, "frame", "timestamp_ms", "face", "pose", "left_hand",
                                     "right_hand"]},
        "extraction": {"sample_fps": settings.fps, "max_side": settings.max_side, "face": settings.face,
                       "model_complexity": MODEL_COMPLEXITY, "mediapipe_version": mediapipe_version()},
        "counts": {"videos": len(videos), "failed": len(failures), "frames": n_frames, "labels": len(per_label)},
        "splits": _split_counts(videos, plan),
        "per_label": dict(sorted(per_label.items())),
        "detection": rates,
        "fps_histogram": _hist(f"{v['fps']:.3f}".rstrip("0").rstrip(".") for v in videos),
        "resolution_histogram": _hist(f"{v['width']}x{v['height']}" for v in videos),
        "frames_histogram": _hist(_bucket(v["frames"]) for v in videos),
        "licences": _hist((v["licence"] or "(not given)") for v in videos) if labels.licence_column else None,
        "licence_column": labels.licence_column,
        "sources": [{k: v[k] for k in ("video_id", "label", "split", "signer", "source_uri", "sha256", "licence")}
                    for v in videos],
        "failures": failures,
    }
    store.put_bytes("dataset.json", json.dumps(card, indent=2, default=str).encode(), "application/json")
    store.put_bytes("README.md", render_card(card).encode(), "text/markdown")
    return card


def _hist(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _bucket(n: int) -> str:
    for lo, hi in ((0, 10), (10, 25), (25, 50), (50, 100), (100, 250), (250, 1000)):
        if lo <= n < hi:
            return f"{lo}-{hi - 1}"
    return "1000+"


__all__ = ["build_dataset", "drop_stale", "frames_table", "load_labels"]
