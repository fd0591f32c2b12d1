"""Many short clips: extraction throughput against pose-format, and what each clip costs beyond its frames.

    .venv/bin/python benchmarks/bench_extract_clips.py speed --rounds 2    # ~8 min on 2 idle cores
    .venv/bin/python benchmarks/bench_extract_clips.py levers --rounds 2   # ~3 min
    .venv/bin/python benchmarks/bench_extract_clips.py probe --rounds 4    # ~1 min: one ffprobe against two
    .venv/bin/python benchmarks/bench_extract_clips.py dataset --clips 200 # one run of dataset build
    .venv/bin/python benchmarks/bench_extract_clips.py process --clips 50  # one run of signbridge process

speed: ``--clips`` WLASL train clips from ``../shared/data/wlasl_clips`` (sorted by file name, linked into a
temporary folder), every frame, 2 workers, interleaved over ``--rounds``: ``signbridge extract DIR --fps 0
--workers 2``, pose-format's ``videos_to_poses -d DIR --num-workers 2`` and, for the long-video figure of the
same run, ``signbridge extract`` on the first ``--long-s`` seconds of the benchmark video (stream copy).
CPU is user + system of the whole process tree. Per-clip overhead = (CPU of the clip run − its frames × the
long video's CPU per frame) ÷ clips: everything a clip costs beyond its frames at the long-video rate
(graph start, ffprobe and ffmpeg starts, writing outputs, decoding the larger clips).

levers: one process, the first ``--frames`` frames of ``--lever-clips`` clips decoded by ffmpeg and run
through Holistic (one graph thread, as pool workers run it), CPU per clip for: a new graph per clip (before
this work), one graph restarted between clips (``holistic.shared_graph``, what ships), one graph never
restarted with a blank frame between clips (cheapest, but not exact: the pose visibility filter keeps the
previous clip's state, ``tests/test_extract_reuse.py``); plus the ``probe`` configurations. Each
configuration is a fresh process; rounds are interleaved.

probe: CPU per clip (each of ``--lever-clips`` clips 3 times) of probing as ``prepare`` did it before (two
ffprobes: ``require_video`` + ``read_timeline``) and now (one: ``timeline.probe_video``), of the whole
``prepare`` with either, and of an ffmpeg start with its first frame.

dataset / process: one run of ``signbridge dataset build`` (default 15 fps, 2 workers) or ``signbridge process``
on ``--clips`` clips (all WLASL clips here, sorted, repeated under new names past the 189 there are):
clips/s and CPU-ms per frame, wall time per second of video; for ``process``, seconds per stage summed over the
videos (from the run's manifest).

Writes ``benchmarks/results/extract_clips.json`` / ``extract_clips_levers.json`` / ``extract_clips_probe.json``
/ ``extract_clips_dataset.json`` / ``extract_clips_process.json``.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_extract import BENCH_VIDEO, DATA, RESULTS, VENV_BIN, child_json, run_measured  # noqa: E402

from signbridge.bench import machine_info, write_results  # noqa: E402

CLIPS_DIR = DATA / "wlasl_clips"


def pick_clips(n: int) -> list[Path]:
    import pandas as pd

    labels = pd.read_csv(CLIPS_DIR / "labels.csv", dtype={"video_id": str})
    train = labels[labels.nslt_split == "train"].sort_values("file")
    return [CLIPS_DIR / f for f in train.file.head(n)]


def _frames(out: Path, suffix: str) -> int:
    if suffix == ".pose":
        from pose_format import Pose

        return sum(int(Pose.read(p.read_bytes()).body.data.shape[0]) for p in out.glob("*.pose"))
    return sum(json.loads(p.read_text())["stats"]["frames"] for p in out.glob("*.stats.json"))


def speed(n_clips: int, rounds: int, long_s: float, workers: int = 2) -> dict:
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    clips = pick_clips(n_clips)
    runs: dict[str, list[dict]] = {"signbridge_clips": [], "pose_format_clips": [], "signbridge_long": []}
    with tempfile.TemporaryDirectory(prefix="bench-clips-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "clips"
        folder.mkdir()
        for c in clips:
            (folder / c.name).symlink_to(c.resolve())
        long_video = tmp / "long.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(BENCH_VIDEO), "-t", str(long_s), "-c", "copy", "-an",
                        str(long_video)], check=True)
        for r in range(rounds):
            for name in runs:
                out = tmp / f"{name}-{r}"
                if name == "pose_format_clips":
                    for p in folder.glob("*.pose"):
                        p.unlink()
                    cmd = [str(VENV_BIN / "videos_to_poses"), "-d", str(folder), "--num-workers", str(workers)]
                else:
                    src = folder if name == "signbridge_clips" else long_video
                    cmd = [sys.executable, "-m", "signbridge.cli", "extract", str(src), "-o", str(out),
                           "--workers", str(workers), "--fps", "0", "--no-progress", "--log-level", "WARNING"]
                res = run_measured(cmd, env)
                res["frames"] = _frames(folder, ".pose") if name == "pose_format_clips" else _frames(out, ".json")
                res["frames_per_s"] = round(res["frames"] / res["wall_s"], 1)
                res["cpu_ms_per_frame"] = round(1000 * res["cpu_s"] / res["frames"], 1)
                runs[name].append(res)
                print(f"  round {r + 1}/{rounds} {name:18s} {res['wall_s']:7.1f} s {res['cpu_s']:7.1f} CPU-s "
                      f"{res['frames']:5d} frames {res['frames_per_s']:6.1f} frames/s "
                      f"{res['cpu_ms_per_frame']:5.1f} CPU-ms/frame  load {res['load_during']}", flush=True)
    ratios = [p["wall_s"] / s["wall_s"] * s["frames"] / p["frames"]
              for s, p in zip(runs["signbridge_clips"], runs["pose_format_clips"])]
    overhead = [(s["cpu_s"] - s["frames"] * lg["cpu_ms_per_frame"] / 1000) / n_clips
                for s, lg in zip(runs["signbridge_clips"], runs["signbridge_long"])]
    summary = {k: {"wall_s_mean": round(statistics.mean(x["wall_s"] for x in v), 2),
                   "cpu_s_mean": round(statistics.mean(x["cpu_s"] for x in v), 2),
                   "frames": v[0]["frames"],
                   "frames_per_s_mean": round(statistics.mean(x["frames_per_s"] for x in v), 1),
                   "cpu_ms_per_frame_mean": round(statistics.mean(x["cpu_ms_per_frame"] for x in v), 1),
                   "load_during_range": [min(x["load_during"] for x in v), max(x["load_during"] for x in v)]}
               for k, v in runs.items()}
    result = {"clips": [c.name for c in clips], "long_video": f"{BENCH_VIDEO.name}, first {long_s} s",
              "workers": workers, "rounds": rounds, "runs": runs, "summary": summary,
              "throughput_ratio_vs_pose_format": [round(x, 2) for x in ratios],
              "throughput_ratio_mean": round(statistics.mean(ratios), 2),
              "per_clip_overhead_cpu_s": [round(x, 3) for x in overhead],
              "per_clip_overhead_cpu_s_mean": round(statistics.mean(overhead), 3),
              "targets": {"ratio>=1.6": statistics.mean(ratios) >= 1.6,
                          "per_clip_overhead<=0.2": statistics.mean(overhead) <= 0.2}}
    print("\n| command | wall s | CPU s | frames | frames/s | CPU ms/frame | load during |\n|---|---:|---:|---:|---:|---:|---:|")
    for k, s in summary.items():
        lo, hi = s["load_during_range"]
        print(f"| {k} | {s['wall_s_mean']} | {s['cpu_s_mean']} | {s['frames']} | {s['frames_per_s_mean']} | "
              f"{s['cpu_ms_per_frame_mean']} | {lo}–{hi} |")
    print(f"\nthroughput signbridge / pose-format: {result['throughput_ratio_vs_pose_format']} "
          f"(mean {result['throughput_ratio_mean']}); per-clip overhead CPU-s: {result['per_clip_overhead_cpu_s']}")
    write_results(RESULTS / "extract_clips.json", {**result, "machine_info": machine_info()})
    return result


def _linked_clips(tmp: Path, n: int) -> tuple[Path, list[Path]]:
    """``n`` clips (all WLASL clips here, repeated under new names when ``n`` is larger) linked into a folder."""
    import pandas as pd

    labels = pd.read_csv(CLIPS_DIR / "labels.csv", dtype={"video_id": str}).sort_values("file")
    folder = tmp / "clips"
    folder.mkdir()
    rows = []
    for i in range(n):
        row = labels.iloc[i % len(labels)]
        name = f"{i:03d}_{Path(row.file).name}"
        (folder / name).symlink_to((CLIPS_DIR / row.file).resolve())
        rows.append({"file": name, "label": row.gloss, "duration_s": float(row.duration_s)})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder, [folder / r["file"] for r in rows]


def _stage_sums(out: Path) -> dict:
    """Seconds per stage summed over the videos of a ``process`` run (``OUT/runs/<id>/manifest.json``): where the
    wall time went, and, by difference, what the run cost beyond its videos (store and Airflow start, planning)."""
    manifests = sorted(m for m in out.rglob("manifest.json") if m.parent.parent.name == "runs")
    if not manifests:
        return {}
    videos = json.loads(manifests[-1].read_text())["videos"]
    sums: dict[str, float] = {}
    for v in videos:
        for stage, t in (v.get("stage_timings") or {}).items():
            sums[stage] = sums.get(stage, 0.0) + float(t)
    return {"videos_ok": sum(v.get("status") in ("ok", "skipped") for v in videos),
            "stage_s": {k: round(t, 1) for k, t in sums.items()}}


def pipeline(what: str, n: int) -> dict:
    """One run of ``dataset build`` (default 15 fps, 2 workers) or ``process`` on ``n`` short clips."""
    import pandas as pd

    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory(prefix=f"bench-{what}-") as tmp:
        tmp = Path(tmp)
        folder, clips = _linked_clips(tmp, n)
        video_s = float(pd.read_csv(folder / "labels.csv").duration_s.sum())
        if what == "dataset":
            cmd = [sys.executable, "-m", "signbridge.cli", "dataset", "build", "--labels", str(folder / "labels.csv"),
                   "-o", str(tmp / "ds"), "--workers", "2", "--no-progress"]
        else:
            cmd = [sys.executable, "-m", "signbridge.cli", "process", str(folder), "-o", str(tmp / "out"),
                   "--home", str(tmp / "home"), "-q"]
        # exit code 1: some inputs failed (listed in the card / the summary); the run itself is still measured
        try:
            res = run_measured(cmd, {**env, "SIGNBRIDGE_HOME": str(tmp / "home")}, ok_codes=(0, 1))
        finally:  # `process` leaves the embedded store running for the next run: this home is thrown away
            if what == "process":
                subprocess.run([sys.executable, "-m", "signbridge.cli", "storage", "down", "--home", str(tmp / "home")],
                               env=env, capture_output=True, timeout=120)
        if what == "process":
            res.update(_stage_sums(tmp / "out"))
        if what == "dataset":
            res["frames"] = int(pd.read_parquet(tmp / "ds" / "videos").frames.sum())
            res["clips_per_s"] = round(n / res["wall_s"], 2)
            res["cpu_ms_per_frame"] = round(1000 * res["cpu_s"] / res["frames"], 1)
    res.update({"clips": n, "video_s": round(video_s, 1), "wall_s_per_video_s": round(res["wall_s"] / video_s, 2)})
    print(json.dumps(res))
    write_results(RESULTS / f"extract_clips_{what}.json", {**res, "command": " ".join(cmd[1:]),
                                                           "machine_info": machine_info()})
    return res


LEVERS = ("new graph per clip", "one graph, restarted between clips", "one graph, blank frame between clips")


PROBES = ("probe: require_video + read_timeline (before)", "probe: probe_video (ships)",
          "prepare, two ffprobes (before)", "prepare, one ffprobe (ships)", "ffmpeg start and first frame")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _probe_child(mode: str, n_clips: int, repeats: int = 3) -> None:
    """CPU per clip (Python included) of: the probe calls alone, before (``require_video`` +
    ``read_timeline``: two ffprobes) and now (``probe_video``: one); the whole ``extract.video.prepare``
    (probe, truncation check, chunk plan) with either; an ffmpeg start with its first frame."""
    from signbridge.extract import timeline, video
    from signbridge.extract.decode import iter_frames, output_size
    from signbridge.settings import load_settings

    clips = [str(c) for c in pick_clips(n_clips)]
    home = tempfile.mkdtemp(prefix="bench-probe-")
    atexit.register(shutil.rmtree, home, True)
    settings = load_settings(env={}, home=home)

    def before(p):
        return timeline.require_video(p), timeline.read_timeline(p)

    if mode == PROBES[2]:
        video.probe_video = before
    sizes = [output_size(i.width, i.height, 640) for i, _ in map(timeline.probe_video, clips)]  # also warms up
    c0 = _cpu()
    for c, (w, h) in zip(clips * repeats, sizes * repeats):
        if mode in (PROBES[0], PROBES[1]):
            (before if mode == PROBES[0] else timeline.probe_video)(c)
        elif mode in (PROBES[2], PROBES[3]):
            video.prepare(c, settings, workers=2)
        else:
            it = iter_frames(c, width=w, height=h)
            next(it)
            it.close()
    print(json.dumps({"cpu_s_per_clip": round((_cpu() - c0) / (len(clips) * repeats), 4)}))


def _lever_child(mode: str, n_clips: int, frames: int) -> None:
    import numpy as np

    from signbridge.extract import holistic
    from signbridge.extract.decode import iter_frames, output_size
    from signbridge.media import require_video

    holistic.defer_plotting_imports()
    with holistic.quiet_native_stderr():
        import mediapipe  # noqa: F401
    clips = pick_clips(n_clips)
    sizes = [output_size(i.width, i.height, 640) for i in (require_video(c) for c in clips)]
    holistic.shared_graph(1)  # graph construction of the first clip is not what is compared

    blank_graph = holistic.shared_graph(1)
    base, n = 1_000_000, 0
    c0 = _cpu()
    for c, (w, h) in zip(clips, sizes):
        if mode == LEVERS[0]:
            holistic._graphs.clear()
            g = holistic.shared_graph(1)
        elif mode == LEVERS[1]:
            g = holistic.shared_graph(1)
        else:
            g = blank_graph
            g.process(np.zeros((h, w, 3), np.uint8), base)
            base += 1_000_000
        for i, (_pts, rgb) in enumerate(iter_frames(str(c), width=w, height=h)):
            if i == frames:
                break
            g.process(rgb, (base if mode == LEVERS[2] else 1_000_000) + 33_333 * i)
            n += 1
        base += 33_333 * frames + 1_000_000
    print(json.dumps({"cpu_s_per_clip": round((_cpu() - c0) / n_clips, 4), "frames": n}))


def levers(n_clips: int, frames: int, rounds: int, graph: bool = True) -> dict:
    """Each configuration a fresh process, rounds interleaved. ``graph=False`` (the ``probe`` mode): only the
    probe and prepare configurations, written to their own file."""
    modes = (*LEVERS, *PROBES) if graph else PROBES
    runs: dict[str, list[dict]] = {k: [] for k in modes}
    for r in range(rounds):
        for mode in runs:
            res = child_json(["_lever", mode, str(n_clips), str(frames)], __file__)
            res["load"] = round(os.getloadavg()[0], 1)
            runs[mode].append(res)
            print(f"  round {r + 1}/{rounds} {mode:48s} {res}", flush=True)
    mean = {m: statistics.mean(x["cpu_s_per_clip"] for x in runs[m]) for m in modes}
    summary = {m: {"cpu_s_per_clip_mean": round(mean[m], 3)} for m in modes}
    for m in LEVERS if graph else ():
        summary[m]["vs_new_graph_s"] = round(mean[m] - mean[LEVERS[0]], 3)
    for new, old in ((PROBES[1], PROBES[0]), (PROBES[3], PROBES[2])):
        summary[new]["vs_before_s"] = round(mean[new] - mean[old], 3)
        summary[new]["vs_before_s_per_round"] = [round(x["cpu_s_per_clip"] - y["cpu_s_per_clip"], 3)
                                                 for x, y in zip(runs[new], runs[old])]
    print(f"\n| configuration ({n_clips} clips) | CPU s per clip (mean of {rounds}) | runs | difference |\n"
          "|---|---:|---|---:|")
    for m in modes:
        diff = summary[m].get("vs_new_graph_s", summary[m].get("vs_before_s"))
        print(f"| {m} | {summary[m]['cpu_s_per_clip_mean']} | {', '.join(str(x['cpu_s_per_clip']) for x in runs[m])}"
              f" | {'' if diff is None else f'{diff:+.3f} s'} |")
    print(f"load {[x['load'] for x in runs[modes[0]]]}")
    result = {"clips": n_clips, "frames_per_clip": frames, "rounds": rounds, "runs": runs, "summary": summary}
    write_results(RESULTS / ("extract_clips_levers.json" if graph else "extract_clips_probe.json"),
                  {**result, "machine_info": machine_info()})
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_lever":
        if sys.argv[2] in PROBES:
            return _probe_child(sys.argv[2], int(sys.argv[3]))
        return _lever_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("speed", "levers", "probe", "dataset", "process"))
    ap.add_argument("--clips", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--long-s", type=float, default=20.0, help="speed: seconds of the benchmark video")
    ap.add_argument("--lever-clips", type=int, default=12)
    ap.add_argument("--frames", type=int, default=15, help="levers: frames per clip")
    a = ap.parse_args()
    if a.what in ("dataset", "process"):
        pipeline(a.what, a.clips)
    elif a.what == "speed":
        speed(a.clips, a.rounds, a.long_s)
    else:
        levers(a.lever_clips, a.frames, a.rounds, graph=a.what == "levers")


if __name__ == "__main__":
    main()
