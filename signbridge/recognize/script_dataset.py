"""``signbridge dataset segment``: a dictionary or lesson recording plus its word list -> a labelled landmark set.

How WLASL-style sets are built from dictionary videos: the recording is extracted once, its script (the words
in the order signed) is aligned to the signing (:mod:`signbridge.recognize.align`), and each placed word's
span of landmark rows becomes one Parquet file (same landmarks contract as ``signbridge extract``), listed in
``labels.csv`` with its time span and alignment confidence. Words that could not be placed are listed in
``unplaced.csv`` and in the summary, never given a span they do not have. Words the model has no class for
are placed by their position between known neighbours and flagged (``known_to_model`` false), which is what
lets a data team collect clips of new signs.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.compute as pc


def _safe(word: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", word).strip("_")[:60] or "word"


def segment_recording(video: str, script: str, out: str | Path, settings, workers: int | None = None) -> dict[str, Any]:
    from signbridge.extract import extract_video
    from signbridge.extract.io import write_landmarks
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.hints import hint_texts, lexicon_for
    from signbridge.recognize.infer import frames_for_tables, recognize_frames

    out = Path(out)
    texts = hint_texts(None, script, settings)  # a bad script is named before the video is decoded
    rec = load_recognizer(settings)
    hints = texts.resolve(lexicon_for(rec))
    ex = extract_video(Path(video), settings, source_uri=str(video), workers=workers)
    table = ex.table
    track = recognize_frames(frames_for_tables([table], [str(video)]), rec, settings, [hints])[0]
    out.mkdir(parents=True, exist_ok=True)
    words = hints.script.words
    rows = []
    ts = table.column("timestamp_ms")
    for span in track.spans:
        if span.script_index is None:
            continue
        w = words[span.script_index]
        mask = pc.and_(pc.greater_equal(ts, span.start_ms), pc.less(ts, span.end_ms))
        part = table.filter(mask)
        name = f"{span.script_index:04d}-{_safe(w.text)}.parquet"
        write_landmarks(part, out / name)
        rows.append({"file": name, "word": w.text, "gloss": span.label, "known_to_model": w.gloss is not None,
                     "script_index": span.script_index, "start_ms": round(span.start_ms, 1),
                     "end_ms": round(span.end_ms, 1), "frames": part.num_rows,
                     "alignment_confidence": span.alignment_confidence, "source": str(video)})
    with (out / "labels.csv").open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["file", "word"])
        wr.writeheader()
        wr.writerows(rows)
    unplaced = (track.hints or {}).get("alignment", {}).get("unplaced", [])
    with (out / "unplaced.csv").open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=["index", "word"], extrasaction="ignore")
        wr.writeheader()
        wr.writerows(unplaced)
    summary = {"video": str(video), "script": script, "words": len(words), "placed": len(rows),
               "unplaced": [u["word"] for u in unplaced], "output": str(out)}
    (out / "segment.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
