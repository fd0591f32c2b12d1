"""Landmark extraction benchmark: speed against pose-format, and agreement with reference landmarks.

    .venv/bin/python benchmarks/bench_extract.py speed      # ~7 min on 2 cores (--repeats 3)
    .venv/bin/python benchmarks/bench_extract.py accuracy   # ~1 min
    .venv/bin/python benchmarks/bench_extract.py levers     # ~5 min
    .venv/bin/python benchmarks/bench_extract.py            # both

speed: on ``../shared/data/bench/wlasl_concat_640x480_30fps.mp4`` (60.7 s, 1821 frames),
runs, side by side and interleaved (so load from other users hits both alike):
``signbridge extract --fps 0 --workers 2`` (every frame), pose-format's
``video_to_pose --format mediapipe --workers 2``, ``signbridge extract`` at the
default sampling, and ``signbridge extract --fps 0 --no-face`` (every frame without the face mesh:
it computes less than pose-format, so its ratio is reported beside the target, not as it). Each command runs as a subprocess; wall time and the peak summed
RSS of its whole process tree (workers and ffmpeg included) are recorded.

accuracy: for the WLASL clips that also ship MediaPipe Holistic landmarks made with
model_complexity=2 (``wlasl_holistic_landmarks_npy``), extracts every frame with ours
(complexity 1) and reports, per part, how often both agree on detection and the mean
x/y distance (normalised image units) where both detect it.

levers: CPU milliseconds per frame of one worker's steady state (first ``--frames`` frames of the
benchmark video, MediaPipe + our Python + ffmpeg, start-up excluded), each configuration a fresh
process, interleaved over ``--rounds`` rounds: the current extractor against the MediaPipe solution
API path, a 1 MiB ffmpeg pipe, ``gc.freeze()``, smaller ``max_side``, a one-thread graph executor (what
pool workers get when they fill the cores) and a worker pinned to one core; plus the CPU cost of a
worker's ``import mediapipe`` with and without deferring matplotlib.

Writes ``benchmarks/results/extract_speed.json`` / ``extract_accuracy.json`` / ``extract_levers.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from signbridge.bench import machine_info, write_results

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
BENCH_VIDEO = DATA / "bench" / "wlasl_concat_640x480_30fps.mp4"
RESULTS = REPO / "benchmarks" / "results"
VENV_BIN = Path(sys.executable).parent


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_measured(cmd: list[str], env: dict | None = None, ok_codes: tuple[int, ...] = (0,)) -> dict:
    """Wall time, CPU time (user + system of the whole tree) and peak process-tree RSS of a command.
    Any exit code outside ``ok_codes`` raises."""
    import resource

    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    peak = 0
    loads: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        n = 0
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            if n % 10 == 0:
                loads.append(os.getloadavg()[0])
            n += 1
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out.decode(errors='replace')[-3000:]}")
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for descendants (workers, ffmpeg) included
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak / 2**20, 1),
            "load_during": round(statistics.mean(loads), 1) if loads else None, "exit_code": proc.returncode}


def _frames_of(parquet: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(parquet).metadata.num_rows


def speed(repeats: int = 2, workers: int = 2) -> dict:
    if not BENCH_VIDEO.is_file():
        sys.exit(f"benchmark video not found: {BENCH_VIDEO}")
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    duration, n_frames = 60.7, 1821
    runs: dict[str, list[dict]] = {"signbridge_all_frames": [], "pose_format_all_frames": [],
                                   "signbridge_default_15fps": [], "signbridge_all_frames_no_face": []}
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        tmp = Path(tmp)
        for r in range(repeats):
            for name in runs:
                out = tmp / f"{name}-{r}"
                if name == "pose_format_all_frames":
                    cmd = [str(VENV_BIN / "video_to_pose"), "-i", str(BENCH_VIDEO), "-o", str(out) + ".pose",
                           "--format", "mediapipe", "--workers", str(workers)]
                else:
                    fps = "15" if name == "signbridge_default_15fps" else "0"
                    cmd = [sys.executable, "-m", "signbridge.cli", "extract", str(BENCH_VIDEO), "-o", str(out),
                           "--workers", str(workers), "--fps", fps, "--no-progress", "--log-level", "WARNING"]
                    if name.endswith("_no_face"):
                        cmd.append("--no-face")
                load = os.getloadavg()[0]
                res = run_measured(cmd, env)
                res["load_before"] = round(load, 1)
                if name == "pose_format_all_frames":
                    from pose_format import Pose

                    res["frames"] = int(Pose.read((Path(str(out) + ".pose")).read_bytes()).body.data.shape[0])
                else:
                    res["frames"] = _frames_of(out / f"{BENCH_VIDEO.stem}.landmarks.parquet")
                    res["detection"] = json.loads((out / f"{BENCH_VIDEO.stem}.stats.json").read_text())["stats"]
                res["frames_per_s"] = round(res["frames"] / res["wall_s"], 1)
                res["cpu_ms_per_frame"] = round(1000 * res["cpu_s"] / res["frames"], 1)
                res["x_real_time"] = round(duration / res["wall_s"], 2)
                runs[name].append(res)
                print(f"  run {r + 1}/{repeats} {name:28s} {res['wall_s']:7.1f} s  {res['frames']:5d} frames  "
                      f"{res['frames_per_s']:6.1f} frames/s  {res['cpu_ms_per_frame']:5.1f} CPU ms/frame  "
                      f"peak {res['peak_rss_mb']:7.1f} MB  load {res['load_during']}", flush=True)
    summary = {k: {"wall_s_mean": round(statistics.mean(x["wall_s"] for x in v), 2),
                   "frames_per_s_mean": round(statistics.mean(x["frames_per_s"] for x in v), 1),
                   "x_real_time_mean": round(statistics.mean(x["x_real_time"] for x in v), 2),
                   "cpu_ms_per_frame_mean": round(statistics.mean(x["cpu_ms_per_frame"] for x in v), 1),
                   "peak_rss_mb_max": max(x["peak_rss_mb"] for x in v),
                   "load_during_range": [min(x["load_during"] for x in v), max(x["load_during"] for x in v)]}
               for k, v in runs.items()}
    ratio = round(summary["pose_format_all_frames"]["wall_s_mean"] / summary["signbridge_all_frames"]["wall_s_mean"], 2)
    # --no-face computes less than pose-format (no face mesh): reported beside the target, not as it
    ratio_no_face = round(summary["pose_format_all_frames"]["wall_s_mean"]
                          / summary["signbridge_all_frames_no_face"]["wall_s_mean"], 2)
    result = {
        "video": str(BENCH_VIDEO.relative_to(DATA)), "duration_s": duration, "frames": n_frames,
        "workers": workers, "repeats": repeats, "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "load_avg_after": os.getloadavg(), "runs": runs, "summary": summary,
        "throughput_ratio_vs_pose_format": ratio,
        "throughput_ratio_no_face_vs_pose_format_with_face": ratio_no_face,
        "targets": {"ratio_vs_pose_format>=1.5": ratio >= 1.5,
                    "x_real_time_default>=3": summary["signbridge_default_15fps"]["x_real_time_mean"] >= 3,
                    "peak_rss<2GB": max(s["peak_rss_mb_max"] for k, s in summary.items() if k.startswith("signbridge")) < 2048},
    }
    print()
    print("| command | wall s | frames/s | × real time | CPU ms/frame | peak RSS MB | load during |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, s in summary.items():
        lo, hi = s["load_during_range"]
        print(f"| {k} | {s['wall_s_mean']} | {s['frames_per_s_mean']} | {s['x_real_time_mean']} | "
              f"{s['cpu_ms_per_frame_mean']} | {s['peak_rss_mb_max']} | {lo}–{hi} |")
    print(f"\nthroughput ratio, every frame, signbridge / pose-format: {ratio}×   targets: {result['targets']}")
    print(f"with --no-face (no face mesh computed; pose-format computes it): {ratio_no_face}×")
    write_results(RESULTS / "extract_speed.json", {**result, "machine_info": machine_info()})
    return result


def reference_pairs() -> list[tuple[Path, Path, str]]:
    import pandas as pd

    clips = pd.read_csv(DATA / "wlasl_clips" / "labels.csv", dtype={"video_id": str})
    pairs = []
    for _, row in clips[clips.has_holistic_npy == 1].iterrows():
        npy = DATA / "wlasl_holistic_landmarks_npy" / "landmarks" / f"{row.video_id}.npy"
        if npy.is_file():
            pairs.append((DATA / "wlasl_clips" / row.file, npy, row.video_id))
    return pairs


def compare_with_reference(table, ref) -> dict:
    """Per part: detection agreement and mean xy distance where both detect (normalised units)."""
    import numpy as np

    from signbridge.contracts import part_to_numpy

    ref = ref.reshape(ref.shape[0], 75, 4)
    n = min(table.num_rows, ref.shape[0])
    frames = table.column("frame").to_numpy()[:n]
    out = {"frames_ours": table.num_rows, "frames_ref": int(ref.shape[0]), "frames_compared": int(n)}
    for part, sl in (("pose", slice(0, 33)), ("left_hand", slice(33, 54)), ("right_hand", slice(54, 75))):
        vals, ours_p = part_to_numpy(table, part)
        vals, ours_p = vals[:n], ours_p[:n]
        r = ref[frames, sl, :]
        ref_p = np.abs(r).sum(axis=(1, 2)) > 0
        both = ours_p & ref_p
        d = np.linalg.norm(vals[both][:, :, :2] - r[both][:, :, :2], axis=2) if both.any() else np.zeros((0,))
        out[part] = {"agreement": round(float((ours_p == ref_p).mean()), 4), "ours": round(float(ours_p.mean()), 4),
                     "ref": round(float(ref_p.mean()), 4),
                     "mean_xy_dist": round(float(d.mean()), 4) if d.size else None}
        if part == "pose" and d.size:
            # head, shoulders, arms and hands (0-22): the part signing uses and both models see
            out[part]["mean_xy_dist_upper_body"] = round(float(d[:, :23].mean()), 4)
    return out


def accuracy() -> dict:
    import numpy as np

    from signbridge.extract import extract_video
    from signbridge.settings import load_settings

    settings = load_settings(env={}, fps=0.0)
    rows = []
    for clip, npy, vid in reference_pairs():
        ex = extract_video(clip, settings, workers=1)
        c = compare_with_reference(ex.table, np.load(npy))
        c["video_id"] = vid
        rows.append(c)
        print(f"  {vid}: frames {c['frames_ours']}/{c['frames_ref']}  " + "  ".join(
            f"{p} agree {c[p]['agreement']:.2f} dist {c[p]['mean_xy_dist']}" for p in ("pose", "left_hand", "right_hand")),
            flush=True)
    summary = {}
    for p in ("pose", "left_hand", "right_hand"):
        dists = [r[p]["mean_xy_dist"] for r in rows if r[p]["mean_xy_dist"] is not None]
        summary[p] = {"agreement_mean": round(float(np.mean([r[p]["agreement"] for r in rows])), 4),
                      "agreement_min": round(float(np.min([r[p]["agreement"] for r in rows])), 4),
                      "mean_xy_dist": round(float(np.mean(dists)), 4) if dists else None}
    ub = [r["pose"].get("mean_xy_dist_upper_body") for r in rows if r["pose"].get("mean_xy_dist_upper_body") is not None]
    summary["pose"]["mean_xy_dist_upper_body"] = round(float(np.mean(ub)), 4) if ub else None
    hands = [(r["left_hand"]["agreement"] + r["right_hand"]["agreement"]) / 2 for r in rows]
    summary["hands_agreement_mean"] = round(float(np.mean(hands)), 4)
    summary["videos_hands_agreement_ge_0.9"] = int(sum(h >= 0.9 for h in hands))
    print()
    print("| part | detection agreement (mean) | (min) | mean x/y distance |")
    print("|---|---:|---:|---:|")
    for p in ("pose", "left_hand", "right_hand"):
        s = summary[p]
        print(f"| {p} | {s['agreement_mean']:.3f} | {s['agreement_min']:.3f} | {s['mean_xy_dist']} |")
    print(f"| pose, upper body (0-22) | | | {summary['pose']['mean_xy_dist_upper_body']} |")
    print(f"\n{len(rows)} videos; hands agree on detection in {summary['hands_agreement_mean']:.1%} of frames on "
          f"average; {summary['videos_hands_agreement_ge_0.9']}/{len(rows)} videos at ≥ 90 %")
    result = {"videos": len(rows), "rows": rows, "summary": summary,
              "note": "reference: MediaPipe Holistic model_complexity=2 on the original clips (9 of the local clips "
                      "are 640-px re-encodes of them); ours: complexity 1, every frame"}
    write_results(RESULTS / "extract_accuracy.json", {**result, "machine_info": machine_info()})
    return result


LEVERS = {  # name -> child arguments; the first is the reference
    "current (one worker alone: graph on MediaPipe's default threads)": [],
    "MediaPipe solution API path": ["--solution-path"],
    "1 MiB ffmpeg pipe (a whole frame)": ["--wide-pipe"],
    "gc.freeze() after imports": ["--gc-freeze"],
    "max_side 480": ["--max-side", "480"],
    "max_side 320": ["--max-side", "320"],
    "graph on 1 thread (what workers get when they fill the cores)": ["--graph-threads", "1"],
    "pinned to one core": ["--pin"],
}


def _lever_child(argv: list[str]) -> None:
    """One configuration in this fresh process: steady-state CPU of the first N frames, as JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--solution-path", action="store_true")
    ap.add_argument("--wide-pipe", action="store_true")
    ap.add_argument("--gc-freeze", action="store_true")
    ap.add_argument("--graph-threads", type=int, default=0)
    ap.add_argument("--pin", action="store_true")
    a = ap.parse_args(argv)
    if a.pin:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    sys.path.insert(0, str(REPO))
    import signbridge.extract.decode as decode
    import signbridge.extract.holistic as holistic
    from signbridge.extract.timeline import read_timeline

    holistic.defer_plotting_imports()
    with holistic.quiet_native_stderr():
        import mediapipe  # noqa: F401
    if a.solution_path:
        holistic.Holistic._direct_api = lambda self: None
    if a.wide_pipe:  # ffmpeg writes a whole frame per wake-up instead of 64 KiB (Linux pipe default)
        import fcntl

        popen = decode.subprocess.Popen

        def wide_popen(*args, **kw):
            proc = popen(*args, **kw)
            if proc.stdout is not None:
                fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
            return proc

        decode.subprocess = type(sys)("subprocess_wide")
        decode.subprocess.__dict__.update({**subprocess.__dict__, "Popen": wide_popen})
    if a.gc_freeze:
        import gc

        gc.freeze()
    tl = read_timeline(str(BENCH_VIDEO))
    w, h = decode.output_size(640, 480, a.max_side)
    task = holistic.ChunkTask(0, 0, str(BENCH_VIDEO), w, h, None, None, tl.start_pts,
                              int(tl.pts[min(a.frames, tl.n_frames - 1)]), "full", threads=1,
                              origin_pts=tl.start_pts, seconds_per_tick=float(tl.time_base))
    t0, c0 = time.perf_counter(), os.times()
    r = holistic.run_chunk(task, graph_threads=a.graph_threads)
    c1, wall = os.times(), time.perf_counter() - t0
    n = len(r.pts)
    own = (c1.user - c0.user) + (c1.system - c0.system)
    ff = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    print(json.dumps({"frames": n, "cpu_ms_per_frame": round(1000 * (own + ff) / n, 2),
                      "mediapipe_python_ms": round(1000 * own / n, 2), "ffmpeg_ms": round(1000 * ff / n, 2),
                      "wall_ms_per_frame": round(1000 * wall / n, 2),
                      "detection": {p: round(float(v.mean()), 3) for p, v in r.present.items()}}))


def _import_child(defer: bool) -> None:
    sys.path.insert(0, str(REPO))
    c0 = os.times()
    from signbridge.extract import holistic

    if defer:
        holistic.defer_plotting_imports()
    with holistic.quiet_native_stderr():
        import mediapipe  # noqa: F401
    c1 = os.times()
    print(json.dumps({"import_cpu_s": round((c1.user - c0.user) + (c1.system - c0.system), 3)}))


def child_json(args: list[str], script: str = __file__) -> dict:
    """Run ``script`` with ``args`` in a fresh Python (a clean process per measurement); its last stdout line
    is JSON."""
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def levers(frames: int = 300, rounds: int = 3) -> dict:
    """Each lever against the current extractor, interleaved so machine load falls on all alike."""
    if not BENCH_VIDEO.is_file():
        sys.exit(f"benchmark video not found: {BENCH_VIDEO}")
    runs: dict[str, list[dict]] = {k: [] for k in LEVERS}
    imports: dict[str, list[float]] = {"import mediapipe": [], "import mediapipe, matplotlib deferred": []}
    for r in range(rounds):
        for name, args in LEVERS.items():
            res = child_json(["_lever", "--frames", str(frames), *args])
            res["load"] = round(os.getloadavg()[0], 1)
            runs[name].append(res)
            print(f"  round {r + 1}/{rounds} {name:30s} {res['cpu_ms_per_frame']:6.2f} CPU ms/frame "
                  f"(MediaPipe+Python {res['mediapipe_python_ms']:.2f}, ffmpeg {res['ffmpeg_ms']:.2f})  "
                  f"load {res['load']}", flush=True)
        for name, defer in (("import mediapipe", False), ("import mediapipe, matplotlib deferred", True)):
            imports[name].append(child_json(["_import", "1" if defer else "0"])["import_cpu_s"])
    ref = statistics.mean(x["cpu_ms_per_frame"] for x in next(iter(runs.values())))
    summary = {}
    for name, v in runs.items():
        vals = [x["cpu_ms_per_frame"] for x in v]
        m = statistics.mean(vals)
        summary[name] = {"cpu_ms_per_frame_mean": round(m, 2), "sd": round(statistics.pstdev(vals), 2),
                         "vs_current_pct": round(100 * (m / ref - 1), 1),
                         "ffmpeg_ms_mean": round(statistics.mean(x["ffmpeg_ms"] for x in v), 2),
                         "detection": v[0]["detection"]}
    print()
    print(f"| configuration (first {frames} frames, every frame) | CPU ms/frame (mean of {rounds}) | sd | "
          "vs current | of which ffmpeg | detection (pose/face/left/right) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, s in summary.items():
        d = s["detection"]
        print(f"| {name} | {s['cpu_ms_per_frame_mean']} | {s['sd']} | {s['vs_current_pct']:+.1f} % | "
              f"{s['ffmpeg_ms_mean']} | {d['pose']}/{d['face']}/{d['left_hand']}/{d['right_hand']} |")
    for name, v in imports.items():
        print(f"worker start-up, {name}: {statistics.mean(v):.2f} CPU s (runs: {v})")
    result = {"video": str(BENCH_VIDEO.relative_to(DATA)), "frames": frames, "rounds": rounds,
              "cpu_count": os.cpu_count(), "load_avg_after": os.getloadavg(), "runs": runs, "summary": summary,
              "import_cpu_s": {k: round(statistics.mean(v), 3) for k, v in imports.items()}}
    write_results(RESULTS / "extract_levers.json", {**result, "machine_info": machine_info()})
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_lever":
        return _lever_child(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "_import":
        return _import_child(sys.argv[2] == "1")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", choices=("speed", "accuracy", "levers", "all"), default="all")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--frames", type=int, default=300, help="levers: frames per configuration")
    ap.add_argument("--rounds", type=int, default=3, help="levers: interleaved rounds")
    a = ap.parse_args()
    if a.what == "levers":
        print("== CPU per frame of one worker, each lever against the current extractor (interleaved)")
        levers(a.frames, a.rounds)
        return
    if a.what in ("accuracy", "all"):
        print("== accuracy against complexity-2 reference landmarks")
        accuracy()
    if a.what in ("speed", "all"):
        print("== speed (side by side, interleaved)")
        speed(a.repeats, a.workers)


if __name__ == "__main__":
    main()
