"""CPU cost of each stage, for sizing a cluster (docs/deployment.md "Sizing"): CPU-seconds per short
clip and per minute of video, and the fixed cost a task pays once (model loads).

Runs the steps the DAG's tasks call (``signbridge.pipeline``), in one process, on local files, and
measures CPU time (this process's threads plus the children it waited for: ffmpeg, espeak) around
each step. CPU-seconds, unlike wall seconds, hardly change with the load of a shared machine.

    python benchmarks/bench_stage_cpu.py [--clips 8] [--tts piper|espeak]

Three groups, each through every stage in one batch: 1 warm-up clip (pays the model loads: the
fixed cost of a task), N other WLASL clips (per clip = CPU / N), and the 60.7 s 640x480 benchmark
video (per video-minute). Prints a table and writes benchmarks/results/stage_cpu.json.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
STAGES = ("extract", "recognize", "compose", "speak", "mux")
LONG = "bench/wlasl_concat_640x480_30fps.mp4"


def pick_clips(n: int) -> list[Path]:
    rows = [r for r in csv.DictReader(open(DATA / "wlasl_clips" / "labels.csv"))
            if r["nslt_split"] == "train" and int(r["width"]) <= 640]
    rows.sort(key=lambda r: r["file"])
    return [DATA / "wlasl_clips" / r["file"] for r in rows[:n]]


def cpu_now() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_group(videos: list[Path], settings, output: str) -> dict:
    """Every stage over ``videos`` as one batch; CPU and wall seconds per stage, seconds of video."""
    from signbridge.pipeline.context import Context
    from signbridge.pipeline.discover import list_inputs, measure_durations
    from signbridge.pipeline.extract_step import extract_videos
    from signbridge.pipeline.results_index import lookup_done
    from signbridge.pipeline.steps import compose_videos, mux_videos, recognize_videos, speak_videos

    states, bad = list_inputs([str(v) for v in videos], settings)
    assert not bad, [b.error for b in bad]
    out: dict = {"videos": len(states), "cpu_s": {}, "wall_s": {}}
    with Context(settings, output) as ctx:
        lookup_done(states, ctx)
        measure_durations(states, ctx)
        out["video_seconds"] = round(sum((st.duration_ms or 0) for st in states) / 1000, 2)
        steps = {"extract": lambda: extract_videos(states, ctx, workers=1),
                 "recognize": lambda: recognize_videos(states, ctx), "compose": lambda: compose_videos(states, ctx),
                 "speak": lambda: speak_videos(states, ctx), "mux": lambda: mux_videos(states, ctx)}
        for name in STAGES:
            c0, t0 = cpu_now(), time.perf_counter()
            steps[name]()
            out["cpu_s"][name] = round(cpu_now() - c0, 2)
            out["wall_s"][name] = round(time.perf_counter() - t0, 2)
    failed = [st.error for st in states if st.status == "failed"]
    assert not failed, failed
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--tts", default=None, help="narration backend (default: the settings' default, piper)")
    args = ap.parse_args()
    if not (DATA / "SOURCES.md").is_file():
        print(f"research data not found at {DATA}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    from signbridge.bench import machine_info, write_results
    from signbridge.settings import load_settings

    clips = pick_clips(args.clips + 1)
    with tempfile.TemporaryDirectory(prefix="stagecpu-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNBRIDGE_")}
        settings = load_settings(env=env, home=str(Path(tmp) / "home"), output=str(Path(tmp) / "out"), tts=args.tts)
        machine = machine_info()
        groups = {"warm-up (1 clip, model loads)": run_group(clips[:1], settings, str(Path(tmp) / "out")),
                  f"short clips ({args.clips})": run_group(clips[1:], settings, str(Path(tmp) / "out")),
                  "1 video-minute (60.7 s, 640x480)": run_group([DATA / LONG], settings, str(Path(tmp) / "out"))}
    warm, short, long_ = groups.values()
    per_clip = {s: round(short["cpu_s"][s] / short["videos"], 3) for s in STAGES}
    per_minute = {s: round(long_["cpu_s"][s] / (long_["video_seconds"] / 60), 2) for s in STAGES}
    fixed = {s: round(max(0.0, warm["cpu_s"][s] - per_clip[s]), 2) for s in STAGES}
    report = {"benchmark": "stage_cpu", "command": " ".join(["python", *sys.argv]), "machine": machine,
              "settings": {"fps": settings.fps, "max_side": settings.max_side, "face": settings.face,
                           "composer": settings.composer, "tts": settings.tts, "extract_workers": 1},
              "groups": groups, "cpu_s_per_short_clip": per_clip, "cpu_s_per_video_minute": per_minute,
              "cpu_s_fixed_per_task": fixed,
              "short_clip_seconds_avg": round(short["video_seconds"] / short["videos"], 2)}
    w = max(len(s) for s in STAGES)
    print(f"{'stage':<{w}}  {'CPU-s/short clip':>16}  {'CPU-s/video-min':>15}  {'fixed CPU-s/task':>16}")
    for s in STAGES:
        print(f"{s:<{w}}  {per_clip[s]:>16.3f}  {per_minute[s]:>15.2f}  {fixed[s]:>16.2f}")
    print(f"short clips average {report['short_clip_seconds_avg']} s; load average {machine['load_avg']}")
    write_results(REPO / "benchmarks" / "results" / "stage_cpu.json", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
