"""``signbridge dataset build``: labelled videos → a hive-partitioned Parquet dataset with a card.

Layout (readable as it is by ``pyarrow.dataset``, pandas and DuckDB)::

    OUT/data/label=<label>/<video_id>.parquet   one row per sampled frame (zstd)
    OUT/videos.parquet                          one row per video: label, source, licence, stats
    OUT/dataset.json, OUT/README.md             the dataset card

The frame files carry ``video_id`` and the landmark columns of the landmarks
contract; ``label`` comes from the folder name (hive partitioning), so a reader
can filter by label without opening other files.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from signbridge.errors import InputError
from signbridge.extract.batch import VideoOutcome, run_batch
from signbridge.storage.inputs import InputVideo

FILE_COLUMNS = ("file", "path", "video", "filename", "video_path")
LABEL_COLUMNS = ("label", "gloss", "sign", "class")
LICENCE_COLUMNS = ("licence", "license")
_UNSAFE = re.compile(r"[/\\%=\x00-\x1f\x7f]")


def partition_value(label: str) -> str:
    """Folder-safe label for ``label=<value>``: only characters a path cannot hold are %-escaped
    (pyarrow decodes them back); ordinary labels, including spaces, stay readable."""
    v = _UNSAFE.sub(lambda m: "%{:02X}".format(ord(m.group())), label)
    return "%2E" + v[1:] if v.startswith(".") else v


@dataclass
class LabelsFile:
    path: str
    rows: list[dict[str, str]]
    file_column: str
    label_column: str
    licence_column: str | None
    columns: list[str] = field(default_factory=list)


def load_labels(path: str | Path, settings=None, file_column: str | None = None,
                label_column: str | None = None) -> LabelsFile:
    """Read the labels CSV (local or s3://). InputError names the file and the missing column."""
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
    rows = [{k: (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    if not rows:
        raise InputError("labels file has a header but no rows", source=src)
    return LabelsFile(src, rows, fcol, lcol, licol, cols)


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


def _frames_table(ex, video_id: str):
    import pyarrow as pa

    t = ex.table.replace_schema_metadata(None)
    return t.add_column(0, pa.field("video_id", pa.string(), nullable=False),
                        pa.array([video_id] * t.num_rows, pa.string()))


def _hist(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def build_dataset(labels_path: str, output: str, settings, *, videos_root: str | None = None,
                  workers: int | None = None, progress: bool = False, file_column: str | None = None,
                  label_column: str | None = None, name: str | None = None) -> dict[str, Any]:
    """Extract every labelled video and write the dataset + card. Returns the card (dict).

    Long because it is the dataset job from labels to card, step by step, each step a few lines."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from signbridge import __version__
    from signbridge.extract.holistic import MODEL_COMPLEXITY, mediapipe_version
    from signbridge.storage import open_store

    settings = settings.validate()
    labels = load_labels(labels_path, settings, file_column, label_column)
    if videos_root is None:
        videos_root = labels_path.rpartition("/")[0] if labels_path.startswith("s3://") else str(Path(labels_path).parent)
    refs, bad = _refs(labels, videos_root, settings)
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
        ex, row, label = o.extraction, o.ref.extra["row"], o.ref.extra["label"]
        key = f"data/label={partition_value(label)}/{o.ref.name}.parquet"
        with tempfile.TemporaryDirectory(prefix="signbridge-ds-") as tmp:
            p = Path(tmp) / "f.parquet"
            pq.write_table(_frames_table(ex, o.ref.name), p, compression="zstd", compression_level=6)
            store.put_file(key, p, "application/vnd.apache.parquet")
        m = ex.meta
        videos.append({
            "video_id": o.ref.name, "label": label, "file": row.get(labels.file_column), "source_uri": o.ref.uri,
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

    # videos.parquet: the label file's own columns are carried over as strings
    extra_cols = [c for c in labels.columns if c not in (labels.file_column, labels.label_column)]
    vt = {k: [v[k] for v in videos] for k in videos[0] if k != "extra"}
    for c in extra_cols:
        name_c = c if c not in vt else f"labels_{c}"
        vt[name_c] = [v["extra"].get(c) for v in videos]
    with tempfile.TemporaryDirectory(prefix="signbridge-ds-") as tmp:
        p = Path(tmp) / "videos.parquet"
        pq.write_table(pa.table(vt), p, compression="zstd")
        store.put_file("videos.parquet", p, "application/vnd.apache.parquet")

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
        "layout": {"frames": "data/label=<label>/<video_id>.parquet (hive, zstd)", "videos": "videos.parquet",
                   "frame_columns": ["video_id", "frame", "timestamp_ms", "face", "pose", "left_hand", "right_hand"],
                   "partition": "label"},
        "extraction": {"sample_fps": settings.fps, "max_side": settings.max_side, "face": settings.face,
                       "model_complexity": MODEL_COMPLEXITY, "mediapipe_version": mediapipe_version()},
        "counts": {"videos": len(videos), "failed": len(failures), "frames": n_frames, "labels": len(per_label)},
        "per_label": dict(sorted(per_label.items())),
        "detection": rates,
        "fps_histogram": _hist(f"{v['fps']:.3f}".rstrip("0").rstrip(".") for v in videos),
        "resolution_histogram": _hist(f"{v['width']}x{v['height']}" for v in videos),
        "frames_histogram": _hist(_bucket(v["frames"]) for v in videos),
        "licences": _hist((v["licence"] or "(not given)") for v in videos) if labels.licence_column else None,
        "licence_column": labels.licence_column,
        "sources": [{k: v[k] for k in ("video_id", "label", "source_uri", "sha256", "licence")} for v in videos],
        "failures": failures,
    }
    store.put_bytes("dataset.json", json.dumps(card, indent=2, default=str).encode(), "application/json")
    store.put_bytes("README.md", render_card(card).encode(), "text/markdown")
    return card


def _bucket(n: int) -> str:
    for lo, hi in ((0, 10), (10, 25), (25, 50), (50, 100), (100, 250), (250, 1000)):
        if lo <= n < hi:
            return f"{lo}-{hi - 1}"
    return "1000+"


def render_card(card: dict[str, Any]) -> str:
    c = card["counts"]
    lines = [f"# {card['name']}", "",
             f"Landmark dataset built by {card['created_by']} on {card['created_at'][:10]} from "
             f"`{card['labels_file']}`.", "",
             f"**{c['videos']} videos, {c['frames']} frames, {c['labels']} labels** ({c['failed']} inputs failed).", "",
             "## Layout", "",
             "- `data/label=<label>/<video_id>.parquet`: one row per sampled frame, columns "
             + ", ".join(f"`{x}`" for x in card["layout"]["frame_columns"]) + " (hive-partitioned by `label`, zstd).",
             "- `videos.parquet`: one row per video (label, source, sha256, licence, fps, size, detection rates, "
             "and the labels file's other columns).",
             "- `dataset.json`: this card as JSON.", "",
             "Read it with `pyarrow.dataset.dataset('data', partitioning='hive')`, `pandas.read_parquet('data')` or "
             "DuckDB `SELECT * FROM read_parquet('data/**/*.parquet', hive_partitioning = true)`.", "",
             "Landmarks follow the SignBridge landmarks contract (`schemas/landmarks.v1.json`): normalised image "
             "coordinates, fixed-size float32 lists (face 468×3, pose 33×4 with visibility, hands 21×3), null when "
             "a part was not detected.", "",
             "## Extraction", ""]
    for k, v in card["extraction"].items():
        lines.append(f"- {k}: {v}")
    lines += ["", "## Labels", "", "| label | videos | frames |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['videos']} | {v['frames']} |" for k, v in card["per_label"].items()]
    lines += ["", "## Detection rates", "", "| part | mean per video | share of frames |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['mean_per_video']:.3f} | {v['share_of_frames']:.3f} |" for k, v in card["detection"].items()]
    for title, key in (("Source frame rates", "fps_histogram"), ("Resolutions", "resolution_histogram"),
                       ("Frames per video", "frames_histogram"), ("Licences", "licences")):
        if card.get(key):
            lines += ["", f"## {title}", "", "| value | videos |", "|---|---:|"]
            lines += [f"| {k} | {v} |" for k, v in card[key].items()]
    if not card.get("licence_column"):
        lines += ["", "The labels file had no licence column: check the terms of every source before sharing."]
    lines += ["", "## Sources", "", "| video_id | label | source | licence |", "|---|---|---|---|"]
    lines += [f"| {s['video_id']} | {s['label']} | {s['source_uri']} | {s['licence'] or ''} |" for s in card["sources"]]
    if card["failures"]:
        lines += ["", "## Not included", "", "| video_id | status | reason |", "|---|---|---|"]
        lines += [f"| {f['video_id']} | {f['status']} | {(f['error'] or '').replace('|', '/')} |"
                  for f in card["failures"]]
    return "\n".join(lines) + "\n"


__all__ = ["build_dataset", "load_labels", "partition_value", "render_card"]
