"""Revise benchmark: re-rendering a reviewed video (one sign corrected) vs rendering all its outputs again.

    .venv/bin/python benchmarks/bench_revise.py [--repeats 3]

On the 60 s benchmark video with one sign every 2.2 s, each its own sentence (27 sentences), side by side in one
process: ``full`` is the one render path over every sentence (captions, narration of all sentences, mux), what a
rerun of the render stages costs; ``revise`` corrects one sign and calls ``revise_folder`` (recompose, re-time the
captions, narrate the one changed sentence into the previous narration, re-mux, store the revision and the previous
render). Each revise corrects a different sign to a different word, so no narration clip comes from the cache.
Timings are medians of --repeats runs. Writes benchmarks/results/revise.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signbridge.bench import machine_info, write_results  # noqa: E402

SHARED = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
BENCH_VIDEO = SHARED / "bench" / "wlasl_concat_640x480_30fps.mp4"
WORDS = ["go", "eat", "drink", "help", "want", "work", "coffee", "water", "milk", "tea", "cake", "food"]


def make_folder(folder: Path, settings) -> dict:
    """A result folder as a run leaves it, for the benchmark video with a synthetic gloss track."""
    from signbridge.compose import compose_tracks
    from signbridge.media import require_video
    from signbridge.pipeline.render import render_outputs
    from signbridge.records import GlossSpan, GlossTrack, TopK
    from signbridge.storage import sha256_file

    duration = require_video(BENCH_VIDEO).duration_s * 1000.0
    spans = [GlossSpan(start_ms=i * 2200.0, end_ms=i * 2200.0 + 1400.0, label=WORDS[i % len(WORDS)], kind="gloss",
                       confidence=0.9, top_k=[TopK(WORDS[i % len(WORDS)], 0.9)]) for i in range(int(duration // 2200))]
    track = GlossTrack(source_uri=str(BENCH_VIDEO), sha256=sha256_file(BENCH_VIDEO), model_name="bench",
                       model_version="1", spans=spans, duration_ms=duration)
    folder.mkdir(parents=True)
    (folder / "gloss_track.json").write_text(json.dumps(track.to_dict()))
    (folder / "result.json").write_text(json.dumps({"input_uri": str(BENCH_VIDEO), "status": "ok"}))
    (tr,) = compose_tracks([track], settings)
    t0 = time.perf_counter()
    render_outputs(BENCH_VIDEO, tr, folder, settings, track=track, duration_ms=duration)
    return {"seconds": time.perf_counter() - t0, "sentences": len(tr.sentences), "track": track.to_dict()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json-out", dest="json", metavar="PATH",
                    default=str(ROOT / "benchmarks" / "results" / "revise.json"),
                    help="where the JSON results go (was --json PATH: signbridge's --json means JSON on stdout)")
    ap.add_argument("--json", dest="json", help=argparse.SUPPRESS)  # deprecated spelling
    args = ap.parse_args()
    if not BENCH_VIDEO.is_file():
        print(f"benchmark video not found: {BENCH_VIDEO}", file=sys.stderr)
        return 2
    from signbridge.review.revise import revise_folder
    from signbridge.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="bench-revise-") as tmp:
        settings = load_settings(env={}, home=str(Path(tmp) / "home"))
        full, revise, kept = [], [], []
        for r in range(args.repeats):
            folder = Path(tmp) / f"r{r}"
            shutil.rmtree(folder, ignore_errors=True)
            made = make_folder(folder, settings)
            full.append(made["seconds"])
            doc = made["track"]
            i = (5 + 7 * r) % len(doc["spans"])
            doc["spans"][i].update(label=WORDS[(i + 3 + r) % len(WORDS)], confidence=1.0)
            doc["review"] = {"sources": ["reviewer" if k == i else "model" for k in range(len(doc["spans"]))]}
            t0 = time.perf_counter()
            out = revise_folder(str(folder), doc, settings, reviewer="bench")
            revise.append(time.perf_counter() - t0)
            kept.append(len(out["kept_sentences"]))
            assert out["narration"]["synthesised"] == 1, out["narration"]
    rows = [{"step": "full render (all sentences)", "seconds": round(statistics.median(full), 3)},
            {"step": "revise (1 sign corrected)", "seconds": round(statistics.median(revise), 3)}]
    report = {"benchmark": "revise", "video": BENCH_VIDEO.name, "sentences": made["sentences"],
              "kept_sentences": kept, "repeats": args.repeats, **machine_info(), "rows": rows,
              "speedup": round(rows[0]["seconds"] / rows[1]["seconds"], 2), "runs": {"full": full, "revise": revise}}
    print(f"{'step':<32}{'seconds':>10}")
    for row in rows:
        print(f"{row['step']:<32}{row['seconds']:>10.3f}")
    print(f"{'speedup':<32}{report['speedup']:>10.2f}x  ({made['sentences']} sentences, "
          f"{kept[0]} kept on a correction)")
    write_results(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
