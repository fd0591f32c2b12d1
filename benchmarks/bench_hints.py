"""Vocabulary hints and script alignment, measured through the CLI on continuous videos the model never saw.

    .venv/bin/python benchmarks/bench_hints.py                  # two 72-word lessons + the 28-sign bench video
    .venv/bin/python benchmarks/bench_hints.py --quick          # one 24-word lesson (what the test suite runs)
    .venv/bin/python benchmarks/bench_hints.py --checkpoint DIR --signers fold:0/3 --tag fold0

Material: lessons made by concatenating ../shared/data/wlasl_clips (640x480, 30 fps, ffmpeg), none of whose video
ids is in the model's training data (``train.data`` in config.json), 72 distinct glosses each, in alphabetical
order like a dictionary lesson, leaving out the 28 clips of the bench video. The alignment's four constants
(``align.SPLIT_MS``, ``MIN_PIECE_MS``, ``CUT``, ``BOUNDARY``) were chosen on the bench video and lesson 0, so lesson 1
is the held-out check; with ``--signers fold:i/k`` only clips whose WLASL signer id is in signer fold i
(for a fold model that never saw those signers). Word lists: the exact list, +100 distractor glosses, a 300-word list
holding the signed words, and +300 distractors (random trained glosses not signed). Scripts: the words in order; with 10 % of the signed words dropped from the
script; with 10 % extra words that are not signed inserted.

Each condition is one ``signbridge run VIDEO -o OUT [--vocabulary F | --script F]`` (landmarks are extracted once
per video: hinted runs reuse them). Scoring reads the gloss_track.json the run wrote:
  hints   a shown word is right when its label is the signed gloss (same-sign groups credited) of the clip it
          overlaps most; words right = clips read right; precision = right / shown
  script  a script word is placed right when its span has IoU >= 0.5 with its clip; inserted (unsigned) words
          must stay unplaced; boundary error = |start| and |end| differences of right placements

Prints a table and writes benchmarks/results/hints[-TAG].json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
CLIPS = DATA / "wlasl_clips"
BENCH = DATA / "bench"


def cli() -> list[str]:
    exe = Path(sys.executable).parent / "signbridge"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "signbridge.cli"]


def model_labels(ckpt: Path | None) -> tuple[list[str], dict]:
    from signbridge.recognize.checkpoint import shipped_dir

    d = ckpt or shipped_dir()
    cfg = json.loads((d / "config.json").read_text())
    cal = json.loads((d / "calibration.json").read_text())
    return cfg["labels"], cal


def pick_lessons(labels: list[str], n_words: int, n_lessons: int, signers: str | None, seed: int) -> list[list[dict]]:
    """Disjoint sets of clips, each of ``n_words`` distinct glosses the model has, alphabetical."""
    with (BENCH / "wlasl_concat_640x480_30fps.csv").open(newline="") as f:
        tuned_on = {r["file"] for r in csv.DictReader(f)}  # the alignment's boundary was fitted on these
    with (CLIPS / "labels.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if (CLIPS / r["file"]).is_file() and r["gloss"] in set(labels)
                and r["file"] not in tuned_on]
    if signers:
        from signbridge.recognize.signer_folds import fold_of, parse_fold

        i, k = parse_fold(signers.split(":", 1)[1])
        rows = [r for r in rows if r["signer_id"] and int(fold_of(np.array([int(float(r["signer_id"]))]), k)[0]) == i]
    rng = random.Random(seed)
    rng.shuffle(rows)
    lessons, used = [], set()
    for _ in range(n_lessons):
        lesson, glosses = [], set()
        for r in rows:
            if r["file"] in used or r["gloss"] in glosses:
                continue
            lesson.append(r)
            glosses.add(r["gloss"])
            used.add(r["file"])
            if len(lesson) == n_words:
                break
        if len(lesson) < min(n_words, 8):
            break
        lessons.append(sorted(lesson, key=lambda r: r["gloss"]))
    return lessons


def concat(clips: list[Path], out: Path, work: Path) -> list[tuple[float, float]]:
    """One 640x480 30 fps video of the clips in order; returns each clip's [start, end) in ms."""
    work.mkdir(parents=True, exist_ok=True)
    parts, spans, t = [], [], 0.0
    for i, c in enumerate(clips):
        p = work / f"{i:03d}.mp4"
        if not p.is_file():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(c), "-an", "-vf",
                            "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,fps=30",
                            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(p)],
                           check=True)
        dur = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                    str(p)], capture_output=True, text=True, check=True).stdout.strip())
        spans.append((t * 1000, (t + dur) * 1000))
        t += dur
        parts.append(p)
    if not out.is_file():
        lst = work / "list.txt"
        lst.write_text("".join(f"file '{p.resolve()}'\n" for p in parts))
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy",
                        str(out)], check=True)
    return spans


def run_cli(video: Path, out: Path, home: Path, extra: list[str]) -> tuple[dict, float, dict]:
    env = {**os.environ, "SIGNBRIDGE_HOME": str(home), "SIGNBRIDGE_RESULTS": "none"}
    t0 = time.perf_counter()
    res = subprocess.run(cli() + ["run", str(video), "-o", str(out), *extra], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"signbridge run failed ({' '.join(extra)}):\n{res.stderr[-3000:]}\n{res.stdout[-2000:]}")
    manifest = next(l.split(None, 1)[1] for l in res.stdout.splitlines() if l.startswith("manifest:"))
    doc = json.loads(Path(manifest).read_text())["videos"][0]
    track = json.loads(Path(doc["outputs"]["gloss_track"]).read_text())
    return track, wall, doc


def iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def score_words(track: dict, truth: list[tuple[float, float, str]], credit) -> dict:
    shown = [s for s in track["spans"] if s["kind"] != "unknown" and s.get("tier") != "unclear"]
    hits, right, plain, plain_right = set(), 0, 0, 0
    for s in shown:
        j = int(np.argmax([iou((s["start_ms"], s["end_ms"]), t[:2]) for t in truth]))
        ok = s["label"] == credit(truth[j][2])
        right += ok
        plain += s.get("tier") == "plain"
        plain_right += ok and s.get("tier") == "plain"
        if ok:
            hits.add(j)
    return {"shown": len(shown), "right": right, "words_right": len(hits), "signed": len(truth),
            "precision": right / len(shown) if shown else None, "plain": plain,
            "plain_precision": plain_right / plain if plain else None}


def score_script(track: dict, truth: list[tuple[float, float, str]], script_truth: list[int | None]) -> dict:
    """``script_truth[i]``: the clip index the i-th script word was signed in (None: inserted, not signed)."""
    placed = [s for s in track["spans"] if s.get("script_index") is not None]
    good, wrong, inserted_placed, starts, ends = 0, 0, 0, [], []
    for s in placed:
        j = script_truth[s["script_index"]]
        if j is None:
            inserted_placed += 1
            continue
        if iou((s["start_ms"], s["end_ms"]), truth[j][:2]) >= 0.5:
            good += 1
            starts.append(abs(s["start_ms"] - truth[j][0]))
            ends.append(abs(s["end_ms"] - truth[j][1]))
        else:
            wrong += 1
    signed_in_script = sum(j is not None for j in script_truth)
    unplaced = track.get("hints", {}).get("alignment", {}).get("unplaced", [])
    return {"script_words": len(script_truth), "signed_in_script": signed_in_script, "placed": len(placed),
            "placed_iou50": good, "placed_rate": good / signed_in_script if signed_in_script else None,
            "misplaced": wrong, "unsigned_words_placed": inserted_placed,
            "unsigned_words": sum(j is None for j in script_truth), "unplaced": len(unplaced),
            "median_start_error_ms": float(np.median(starts)) if starts else None,
            "median_end_error_ms": float(np.median(ends)) if ends else None}


def evaluate_video(name: str, video: Path, truth, labels, credit, args, rng) -> dict:
    work = Path(args.work) / name
    home = Path(args.work) / "home"
    out = work / "out"
    hint_dir = work / "hints"
    hint_dir.mkdir(parents=True, exist_ok=True)
    extra = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    signed = [t[2] for t in truth]
    pool = sorted(set(labels) - set(signed))
    res = {"video": name, "signs": len(truth), "duration_s": round(truth[-1][1] / 1000, 1), "conditions": {}}
    track, wall, doc = run_cli(video, out, home, extra)
    res["conditions"]["no hint"] = {**score_words(track, truth, credit), "wall_s": round(wall, 1),
                                    "stage_s": doc.get("stage_timings")}
    lists = {"exact list": signed, "+100 distractors": signed + rng.sample(pool, min(100, len(pool))),
             "300-word list": signed + rng.sample(pool, max(0, min(300 - len(signed), len(pool)))),
             "+300 distractors": signed + rng.sample(pool, min(300, len(pool)))}
    for cond, words in lists.items():
        f = hint_dir / f"{cond.replace(' ', '_').replace('+', 'plus')}.txt"
        words = list(words)
        rng.shuffle(words)
        f.write_text("\n".join(words) + "\n")
        track, wall, doc = run_cli(video, out, home, extra + ["--vocabulary", str(f)])
        res["conditions"][cond] = {**score_words(track, truth, credit), "list_size": len(words),
                                   "wall_s": round(wall, 1), "stage_s": doc.get("stage_timings")}
    n = len(signed)
    drop = set(rng.sample(range(n), max(1, n // 10)))
    scripts = {"script in order": ([s for s in signed], list(range(n)))}
    kept = [i for i in range(n) if i not in drop]
    scripts["script, 10 % dropped"] = ([signed[i] for i in kept], kept)
    ins_words, ins_truth = [], []
    extra_words = rng.sample(pool, max(1, n // 10))
    ins_at = set(rng.sample(range(n), len(extra_words)))
    k = 0
    for i in range(n):
        if i in ins_at:
            ins_words.append(extra_words[k])
            ins_truth.append(None)
            k += 1
        ins_words.append(signed[i])
        ins_truth.append(i)
    scripts["script, 10 % inserted"] = (ins_words, ins_truth)
    for cond, (words, st) in scripts.items():
        f = hint_dir / f"{cond.replace(' ', '_').replace(',', '').replace('%', 'pc')}.txt"
        f.write_text("\n".join(words) + "\n")
        track, wall, doc = run_cli(video, out, home, extra + ["--script", str(f)])
        res["conditions"][cond] = {**score_script(track, truth, st), "wall_s": round(wall, 1),
                                   "stage_s": doc.get("stage_timings")}
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one 24-word lesson only")
    p.add_argument("--words", type=int, default=72)
    p.add_argument("--lessons", type=int, default=2)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--signers", default=None, help="fold:i/k: only clips of WLASL signer fold i of k")
    p.add_argument("--no-bench", action="store_true", help="skip the 28-sign bench video")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default=str(REPO / ".signbridge" / "bench_hints"))
    p.add_argument("--tag", default="")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.quick:
        a.words, a.lessons, a.no_bench = 24, 1, True
    from signbridge.recognize.same_signs import word_for

    labels, cal = model_labels(Path(a.checkpoint) if a.checkpoint else None)
    credit = lambda g: word_for(g, labels)  # noqa: E731 - MOM read as MOTHER is right
    rng = random.Random(a.seed)
    results = []
    t0 = time.perf_counter()
    for li, lesson in enumerate(pick_lessons(labels, a.words, a.lessons, a.signers, a.seed)):
        name = f"lesson{li}-{len(lesson)}w" + (f"-{a.signers.replace(':', '').replace('/', 'of')}" if a.signers else "")
        video = Path(a.work) / name / "lesson.mp4"
        spans = concat([CLIPS / r["file"] for r in lesson], video, Path(a.work) / name / "parts")
        truth = [(s0, s1, r["gloss"]) for (s0, s1), r in zip(spans, lesson)]
        results.append({**evaluate_video(name, video, truth, labels, credit, a, rng),
                        "clips": [r["file"] for r in lesson]})
    if not a.no_bench:
        with (BENCH / "wlasl_concat_640x480_30fps.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        t, truth = 0.0, []
        for r in rows:
            truth.append((t * 1000, (t + float(r["duration_s"])) * 1000, r["gloss"]))
            t += float(r["duration_s"])
        results.append(evaluate_video("bench-28", BENCH / "wlasl_concat_640x480_30fps.mp4", truth, labels, credit, a,
                                      rng))
    doc = {"date": time.strftime("%Y-%m-%d %H:%M"), "checkpoint": a.checkpoint or "shipped",
           "signers": a.signers or "any (videos not in training)", "seconds": round(time.perf_counter() - t0, 1),
           "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}, "videos": results,
           "command": "python benchmarks/bench_hints.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = Path(a.out or REPO / "benchmarks" / "results" / f"hints{'-' + a.tag if a.tag else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print_table(doc)
    print(f"\nwrote {out}")
    return 0


def print_table(doc: dict) -> None:
    f = lambda v, d=3: "n/a" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))  # noqa: E731
    print(f"{'video':<22} {'condition':<24} {'shown':>6} {'right':>6} {'prec':>6} {'plain':>6} {'placed@.5':>10} "
          f"{'unsigned placed':>16} {'start/end err ms':>17} {'wall s':>7}")
    for v in doc["videos"]:
        for cond, r in v["conditions"].items():
            if "shown" in r:
                print(f"{v['video']:<22} {cond:<24} {r['shown']:>6} {r['words_right']:>6} {f(r['precision']):>6} "
                      f"{r['plain']:>6} {'':>10} {'':>16} {'':>17} {r['wall_s']:>7}")
            else:
                print(f"{v['video']:<22} {cond:<24} {'':>6} {'':>6} {'':>6} {'':>6} "
                      f"{r['placed_iou50']:>4}/{r['signed_in_script']:<5} {r['unsigned_words_placed']:>7}/"
                      f"{r['unsigned_words']:<8} {f(r['median_start_error_ms'], 0):>8}/"
                      f"{f(r['median_end_error_ms'], 0):<8} {r['wall_s']:>7}")


if __name__ == "__main__":
    raise SystemExit(main())
