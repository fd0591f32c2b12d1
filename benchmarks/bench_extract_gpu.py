"""The GPU extractor: parity with MediaPipe's CPU graph, and throughput against it and pose-format.

    # parity, on this machine (the GPU code on the CPU, or on --device cuda where there is one):
    .venv/bin/python benchmarks/bench_extract_gpu.py parity --clips 60 --device cpu
    # ... with the noise floor beside it (MediaPipe at 636 px against 640 px), on every shared clip:
    .venv/bin/python benchmarks/bench_extract_gpu.py parity --clips 192 --device cpu --floor
    # parity of landmark tables a GPU run wrote elsewhere (the device run returns them as a tar):
    .venv/bin/python benchmarks/bench_extract_gpu.py parity --clips 60 --gpu-tables DIR
    # throughput on a GPU machine: decode only, the engine only, and the whole path video files -> Parquet:
    python3 benchmarks/bench_extract_gpu.py speed --clips-dir DIR --video LONG.mp4 --copies 16 --device cuda
    # the CPU extractor and pose-format's videos_to_poses on the same clips, every frame, this machine's cores:
    .venv/bin/python benchmarks/bench_extract_gpu.py cpu --clips 40

parity: WLASL clips from ``../shared/data/wlasl_clips`` (test split first: signers the recogniser saw least),
extracted by both extractors at the default settings (15 fps, max side 640); per part the share of frames where
both or neither detect it, and where both do, the landmark distance as a share of the frame diagonal (x, y);
then the recogniser on both tables: spans matched by time (IoU >= 0.5), top-1 compared. Targets (issue #27):
median distance <= 1 % for pose and hands, detection agreeing on >= 95 % of frames, top-1 unchanged >= 90 %.

speed: every frame (``--fps 0``, as pose-format does) and the default 15 fps. Decode only = the same ffmpeg
readers the extractor uses, ``streams`` at a time, frames thrown away; engine only = decoded frames held in
memory, one frame of each of ``batch`` streams per step; whole path = ``extract_inputs`` on ``--copies`` links
to each clip plus the long video (chunked), Parquet written. GPU-seconds per video-hour = wall seconds of the
whole path (the GPU is held throughout) per hour of video. Writes ``benchmarks/results/extract_gpu.json`` (speed),
``extract_gpu_parity.json`` and ``extract_gpu_cpu_baseline.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
PARTS = ("face", "pose", "left_hand", "right_hand")


def write(path: Path, report: dict) -> None:
    from signbridge.bench import machine_info, write_results

    write_results(path, {**report, "machine_info": machine_info()})


def pick_clips(n: int) -> list[Path]:
    """Test-split clips first, then validation, then train; sorted by file name within each."""
    import pandas as pd

    clips = DATA / "wlasl_clips"
    labels = pd.read_csv(clips / "labels.csv", dtype={"video_id": str})
    order = {"test": 0, "val": 1, "train": 2}
    labels = labels.assign(o=labels.nslt_split.map(order).fillna(3)).sort_values(["o", "file"])
    return [clips / f for f in labels.file.head(n)]


def extract(paths: list[Path], out: Path, **overrides) -> dict:
    """extract_inputs on these files; returns its manifest as a dict plus the wall time."""
    from signbridge.extract.outputs import extract_inputs
    from signbridge.settings import load_settings

    settings = load_settings(**overrides)
    t0 = time.perf_counter()
    m = extract_inputs([str(p) for p in paths], str(out), settings, workers=overrides.get("workers"))
    wall = time.perf_counter() - t0
    d = m.to_dict()
    d["wall_s"] = wall
    return d


# ------------------------------------------------------------------------------------------------ parity
def _table(path: Path):
    from signbridge.extract.io import read_landmarks

    return read_landmarks(str(path))


def _spans(track) -> list[tuple[float, float, str, float, bool, float]]:
    """(start, end, top-1 label, its probability, shown, margin over the second) per span."""
    out = []
    for s in track.spans:
        top = s.top_k[0] if s.top_k else None
        p1 = float(top.prob if top else s.confidence)
        p2 = float(s.top_k[1].prob) if len(s.top_k or []) > 1 else 0.0
        out.append((s.start_ms, s.end_ms, top.label if top else s.label, p1, not s.uncertain and s.kind != "unknown",
                    p1 - p2))
    return out


MARGINS = (0.05, 0.1, 0.2)  # top-1 minus top-2 on MediaPipe's landmarks: below these a span is a near-tie


def top1_agreement(cpu_tables, gpu_tables, names) -> dict:
    """Spans of the CPU tables matched to the GPU tables' by time (IoU >= 0.5); is the top-1 the same?"""
    from signbridge.recognize import recognize_tables
    from signbridge.settings import load_settings

    settings = load_settings(device="cpu")
    tc = recognize_tables(cpu_tables, settings)
    tg = recognize_tables(gpu_tables, settings)
    spans = same = shown = shown_same = 0
    by_margin = {m: [0, 0] for m in MARGINS}  # spans at or above the margin, and how many kept their top-1
    changed = []
    for name, a, b in zip(names, tc, tg):
        sb = _spans(b)
        for s0, e0, lab, prob, vis, margin in _spans(a):
            spans += 1
            shown += vis
            best, match = 0.0, None
            for s1, e1, lab1, prob1, vis1, _ in sb:
                inter = max(0.0, min(e0, e1) - max(s0, s1))
                iou = inter / max(1e-9, max(e0, e1) - min(s0, s1))
                if iou > best:
                    best, match = iou, (lab1, prob1, vis1)
            ok = best >= 0.5 and match[0] == lab
            same += ok
            shown_same += ok and vis
            for m in MARGINS:
                if margin >= m:
                    by_margin[m][0] += 1
                    by_margin[m][1] += ok
            if not ok:
                changed.append({"clip": name, "start_ms": round(s0), "end_ms": round(e0), "margin": round(margin, 3),
                                "cpu": [lab, round(prob, 3), vis],
                                "gpu": [match[0], round(match[1], 3), match[2]] if match else None,
                                "time_iou": round(best, 2)})
    return {"spans": spans, "top1_unchanged": same, "share": round(same / spans, 4) if spans else None,
            "spans_gpu": sum(len(t.spans) for t in tg), "shown_spans_cpu": shown, "shown_unchanged": shown_same,
            "by_margin": {f">={m}": {"spans": n, "top1_unchanged": k, "share": round(k / n, 4) if n else None}
                          for m, (n, k) in by_margin.items()},
            "changed": changed}


def compare_dirs(clips: list[Path], adir: Path, bdir: Path) -> dict:
    """Per part agreement and the recogniser's top-1 between the tables of two folders (a = MediaPipe at 640 px)."""
    from signbridge.contracts import read_landmarks_metadata
    from signbridge.extract.compare import PartAgreement, compare_tables

    per = {p: PartAgreement() for p in PARTS}
    a_tables, b_tables, names, missing = [], [], [], []
    frames_only = 0
    extractor = None
    for c in clips:
        pa, pb = adir / f"{c.stem}.landmarks.parquet", bdir / f"{c.stem}.landmarks.parquet"
        if not pa.exists() or not pb.exists():
            missing.append(c.name)
            continue
        a, b = _table(pa), _table(pb)
        r, only = compare_tables(a, b)
        frames_only += only
        for p in PARTS:
            per[p].add(r[p])
        a_tables.append(a)
        b_tables.append(b)
        names.append(c.name)
        extractor = read_landmarks_metadata(b).get("extractor")
    return {"clips": len(names), "clip_names": names, "missing": missing, "extractor": extractor,
            "frames_in_one_table_only": frames_only, "parts": {p: v.summary() for p, v in per.items()},
            "recognizer_top1": top1_agreement(a_tables, b_tables, names)}


def _print_parts(title: str, parts: dict, top1: dict) -> None:
    print(f"\n{title}\n| part | frames | CPU detects | other detects | detection agreement | median dist (% diag) | p90 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for p, v in parts.items():
        print(f"| {p} | {v['frames']} | {v['detected_cpu']} | {v['detected_gpu']} | {v['detection_agreement']:.3f} | "
              f"{v['median_distance_pct_of_diagonal']} | {v['p90_distance_pct_of_diagonal']} |")
    print(f"recogniser top-1 unchanged on {top1['top1_unchanged']} of {top1['spans']} spans ({top1['share']}); "
          f"by MediaPipe's margin of top-1 over top-2: {top1['by_margin']}")


def parity(n_clips: int, device: str, gpu_tables: Path | None, workers: int | None, floor: bool = False,
           keep: Path | None = None) -> dict:
    """GPU extractor against MediaPipe at 640 px; with ``floor``, MediaPipe at 636 px against the same, in the
    same run: how much of the difference any tiny change of input makes (the recogniser's noise floor)."""
    clips = pick_clips(n_clips)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-parity-") as tmp:
        tmp = keep or Path(tmp)
        t_cpu = extract(clips, tmp / "cpu", extractor="cpu", workers=workers)
        if gpu_tables is None:
            t_gpu = extract(clips, tmp / "gpu", extractor="gpu", device=device)
            gdir = tmp / "gpu"
        else:
            t_gpu, gdir = None, gpu_tables
        got = compare_dirs(clips, tmp / "cpu", gdir)
        if floor:
            extract(clips, tmp / "cpu636", extractor="cpu", workers=workers, max_side=636)
            base = compare_dirs(clips, tmp / "cpu", tmp / "cpu636")
    parts, top1 = got["parts"], got["recognizer_top1"]
    checks = {
        "median_distance<=1%_pose_and_hands": all((parts[p]["median_distance_pct_of_diagonal"] or 0) <= 1.0
                                                   for p in ("pose", "left_hand", "right_hand")),
        "detection_agreement>=95%_pose_and_hands": all(parts[p]["detection_agreement"] >= 0.95
                                                        for p in ("pose", "left_hand", "right_hand")),
        "top1_unchanged>=90%": (top1["share"] or 0) >= 0.90,
    }
    report = {"clips": got["clips"], "clip_names": got["clip_names"], "missing": got["missing"], "device": device,
              "gpu_tables_from": str(gpu_tables) if gpu_tables else None, "gpu_extractor": got["extractor"],
              "frames_in_one_table_only": got["frames_in_one_table_only"], "parts": parts, "recognizer_top1": top1,
              "checks": checks, "passed": all(checks.values()),
              "seconds": {"cpu": round(t_cpu["wall_s"], 1), "gpu": round(t_gpu["wall_s"], 1) if t_gpu else None}}
    _print_parts("GPU extractor against MediaPipe (CPU graph, 640 px)", parts, top1)
    if floor:
        report["floor_mediapipe_636px"] = {k: base[k] for k in ("parts", "recognizer_top1", "frames_in_one_table_only")}
        _print_parts("noise floor: MediaPipe at 636 px against MediaPipe at 640 px", base["parts"],
                     base["recognizer_top1"])
    print(f"\nchecks: {checks}")
    return report


# ------------------------------------------------------------------------------------------------ speed
def _tasks(paths: list[Path], fps: float, extractor: str, device: str, streams: int):
    from signbridge.extract.video import prepare
    from signbridge.settings import load_settings

    settings = load_settings(fps=fps, extractor=extractor, device=device)
    jobs = [prepare(str(p), settings, workers=streams, key=i) for i, p in enumerate(paths)]
    return [t for j in jobs for t in j.tasks], jobs


def decode_only(paths: list[Path], fps: float, streams: int) -> dict:
    """The GPU pool's decoder processes, ``streams`` chunks at a time, each frame's slot freed as it lands: what
    decoding alone gives."""
    import threading

    from signbridge.extract.decode_procs import DecoderProcesses
    from signbridge.extract.gpu_pool import decoder_process_count

    tasks, _ = _tasks(paths, fps, "gpu", "cpu", streams)
    room = threading.Semaphore(streams)
    left, frames, done = [len(tasks)], [0], threading.Event()
    sids: dict[int, int] = {}  # task index -> stream id
    started = threading.Lock()  # a stream's first frame may come before start() has returned its id

    def on_frame(k, *_):
        frames[0] += 1
        with started:
            procs.free([sids[k]])

    def on_end(k, err, report):
        with started:
            procs.release(sids[k])
        room.release()
        left[0] -= 1
        if not left[0]:
            done.set()

    procs = DecoderProcesses(decoder_process_count(streams), on_frame, on_end)
    t0 = time.perf_counter()
    for k, t in enumerate(tasks):
        room.acquire()
        with started:
            sids[k] = procs.start(t, k)
    done.wait()
    wall = time.perf_counter() - t0
    procs.close()
    return {"frames": frames[0], "wall_s": round(wall, 2), "frames_per_s": round(frames[0] / wall, 1),
            "streams": streams, "decoder_processes": decoder_process_count(streams)}


def engine_only(paths: list[Path], device: str, batches: list[int], steps: int, precisions: list[str],
                graphs: tuple[bool, ...] = (False, True)) -> list[dict]:
    """Decoded frames in memory; one frame of each of ``batch`` streams per step, tracking state kept; per
    model precision, with the models launched op by op and replayed as CUDA graphs (the extractor's default)."""
    import torch

    from signbridge.extract import gpu_lanes
    from signbridge.extract.decode import DecodeReport
    from signbridge.extract.gpu_pool import engine
    from signbridge.extract.chunks import chunk_frames

    tasks, _ = _tasks(paths, 15.0, "gpu", device, 1)
    clips = []
    for t in tasks[: max(batches)]:
        clips.append([(rgb.copy(), ts) for _, _, rgb, ts in chunk_frames(t, DecodeReport())])
    clips = [clips[i % len(clips)] for i in range(max(batches))]  # more streams than clips: clips repeat
    out = []
    configs = [(p, g) for p in precisions for g in (graphs if device != "cpu" else (False,))]
    for (precision, graphed), b in ((c, b) for c in configs for b in batches):
        eng = engine(device, True, precision)
        eng.graphs = graphed and eng.device.type == "cuda"
        b = min(b, len(clips))
        for warm in (True, False):
            states = [eng.new_stream() for _ in range(b)]
            eng.timing.clear()
            n = 0
            if eng.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for k in range(3 if warm else steps):
                frames = [clips[i][k % len(clips[i])] for i in range(b)]
                eng.process(states, [f[0] for f in frames], [None] * b)
                n += b
            wall = time.perf_counter() - t0
        timing = {k: round(v, 3) for k, v in eng.timing.items()}
        out.append({"precision": precision, "cuda_graphs": eng.graphs, "batch": b, "frames": n,
                    "wall_s": round(wall, 3), "frames_per_s": round(n / wall, 1),
                    "ms_per_step": round(1000 * wall / steps, 2), "phases_s": timing})
        print(f"  engine {precision} graphs={eng.graphs!s:5} batch {b:4d}: {n / wall:8.1f} frames/s, "
              f"{1000 * wall / steps:6.1f} ms/step {timing}", flush=True)
        eng.graphs = gpu_lanes.USE_CUDA_GRAPHS and eng.device.type == "cuda"
    prof = os.environ.get("GPU_PROFILE_TXT")
    if prof:
        out.append(profile_engine(clips, device, precisions[-1], min(128, len(clips)), Path(prof)))
    return out


def profile_engine(clips: list, device: str, precision: str, b: int, txt: Path, steps: int = 5) -> dict:
    """torch.profiler over a few engine steps: how much of a step's wall time the GPU is busy, and on what."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from signbridge.extract.gpu_pool import engine

    eng = engine(device, True, precision)
    on_gpu = eng.device.type == "cuda"
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    states = [eng.new_stream() for _ in range(b)]
    for k in range(3):
        eng.process(states, [clips[i][k % len(clips[i])][0] for i in range(b)], [None] * b)
    sync()
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])) as p:
        t0 = time.perf_counter()
        for k in range(3, 3 + steps):
            eng.process(states, [clips[i][k % len(clips[i])][0] for i in range(b)], [None] * b)
        sync()
        wall = time.perf_counter() - t0
    ev = p.key_averages()
    attr = "self_device_time_total" if hasattr(ev[0], "self_device_time_total") else "self_cuda_time_total"
    # kernels and copies only: an operator's row repeats the time of the kernels it launched
    gpu_us = sum(getattr(e, attr) for e in ev if getattr(getattr(e, "device_type", None), "name", "") == "CUDA")
    sort = "self_cuda_time_total" if attr == "self_cuda_time_total" else "self_device_time_total"
    txt.write_text(ev.table(sort_by=sort, row_limit=40) + "\n\n" + ev.table(sort_by="self_cpu_time_total", row_limit=25))
    res = {"profile": precision, "batch": b, "steps": steps, "wall_ms_per_step": round(1000 * wall / steps, 2),
           "gpu_kernel_ms_per_step": round(gpu_us / 1000 / steps, 2), "gpu_busy_share": round(gpu_us / 1e6 / wall, 3)}
    print(f"  profile: {res}", flush=True)
    return res


def whole_path(paths: list[Path], out: Path, fps: float, device: str, streams: int | None, precision: str,
               loops: int | None = None) -> dict:
    from signbridge.extract import gpu_pool

    if loops:
        gpu_pool.GPU_LOOPS = loops
    m = extract(paths, out, extractor="gpu", device=device, fps=fps, gpu_streams=streams, gpu_precision=precision)
    docs = [json.loads(p.read_text()) for p in out.glob("*.stats.json")]
    frames = sum(d["stats"]["frames"] for d in docs)
    video_s = sum(float(d.get("duration_s") or 0) for d in docs)
    ok = sum(v.get("status") == "ok" for v in m["videos"])
    statuses: dict[str, int] = {}
    for v in m["videos"]:
        statuses[v.get("status")] = statuses.get(v.get("status"), 0) + 1
    errors = sorted({str(v.get("error"))[:300] for v in m["videos"] if v.get("error")})[:3]
    stats = dict(gpu_pool.LAST_STATS)
    wall = m["wall_s"]
    return {"fps_sampled": fps, "precision": precision, "videos": len(paths), "ok": ok, "statuses": statuses, "errors": errors, "frames": frames, "video_s": round(video_s, 1),
            "wall_s": round(wall, 2), "frames_per_s": round(frames / wall, 1),
            "gpu_s_per_video_hour": round(wall / (video_s / 3600), 1) if video_s else None,
            "engine_busy_s": round(stats.get("gpu_s", 0.0), 2), "engine_idle_s": round(stats.get("idle_s", 0.0), 2),
            "batches": stats.get("batches"), "mean_batch": round(stats.get("frames", 0) / max(1, stats.get("batches", 1)), 1),
            "streams": stats.get("streams"), "loops": stats.get("loops"),
            "decoder_processes": stats.get("decoder_processes")}


def speed(clips_dir: Path, video: Path | None, copies: int, device: str, streams: list[int], budget_s: float,
          out_json: Path, batches: list[int], precision: str, sweep: list[str], loops: list[int]) -> dict:
    import torch

    from signbridge.extract.gpu_pool import engine

    t_start = time.perf_counter()
    clips = sorted(clips_dir.glob("*.mp4"))
    eng = engine(device, True, precision)
    from signbridge.extract import gpu_lanes

    report: dict = {"cuda_graphs": gpu_lanes.USE_CUDA_GRAPHS, "gpu": eng.describe(), "device": device, "cpu_cores": os.cpu_count(), "clips": len(clips),
                    "copies": copies, "long_video": video.name if video else None, "precision": precision,
                    "parts": {}}

    def save() -> None:
        write(out_json, report)

    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        tmp = Path(tmp)
        linked = tmp / "in"
        linked.mkdir()
        inputs = []
        for k in range(copies):  # copies differ in a metadata tag: a batch skips inputs with the same bytes
            for c in clips:
                p = linked / f"{c.stem}_{k:02d}.mp4"
                subprocess.run(["ffmpeg", "-v", "error", "-i", str(c), "-map", "0:v", "-c", "copy", "-metadata",
                                f"comment=signbridge bench copy {k}", str(p)], check=True)
                inputs.append(p)
        if video is not None:
            inputs.append(video)
        first, rest = streams[0], streams[1:]  # the most telling parts first: a short lease may end the run
        steps = [("engine_only", lambda: engine_only(clips, device, batches, 20, sweep)),
                 # one pass over the first copies: CUDA graphs are captured once per process, cuDNN loaded
                 (f"warm_up_streams{first}", lambda: whole_path(inputs[: len(clips)], tmp / "warm", 0.0, device,
                                                                first, precision, loops[0]))]
        steps.append((f"whole_path_fps0_streams{first}",
                      lambda: whole_path(inputs, tmp / f"o0-{first}", 0.0, device, first, precision, loops[0])))
        steps.append(("whole_path_fps15", lambda: whole_path(inputs, tmp / "o15", 15.0, device, first, precision,
                                                             loops[0])))
        for lp in loops[1:]:  # the first is the default every other part runs with
            steps.append((f"whole_path_fps0_streams{first}_loops{lp}",
                          lambda lp=lp: whole_path(inputs, tmp / f"o0-{first}-{lp}", 0.0, device, first, precision, lp)))
        steps.append(("decode_only_fps0", lambda: decode_only(inputs, 0.0, first)))
        for s in rest:
            steps.append((f"whole_path_fps0_streams{s}",
                          lambda s=s: whole_path(inputs, tmp / f"o0-{s}", 0.0, device, s, precision, loops[0])))
        for name, fn in steps:
            if time.perf_counter() - t_start > budget_s:
                report["parts"][name] = {"skipped": "time budget"}
                continue
            try:
                t0 = time.perf_counter()
                report["parts"][name] = fn()
                print(f"{name}: {json.dumps(report['parts'][name])[:400]} ({time.perf_counter() - t0:.0f} s)", flush=True)
            except Exception as e:  # noqa: BLE001 — one failed part is recorded, the rest still run
                report["parts"][name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
                print(f"{name} failed: {e}", flush=True)
            save()
        whole = [v for k, v in report["parts"].items() if k.startswith("whole_path_fps0") and "frames_per_s" in v]
        if whole:
            best = max(whole, key=lambda v: v["frames_per_s"])
            report["frames_per_s"] = best["frames_per_s"]
            report["frames_per_s_at"] = f"every frame, {best['streams']} streams"
        if "whole_path_fps15" in report["parts"] and "gpu_s_per_video_hour" in report["parts"]["whole_path_fps15"]:
            report["gpu_s_per_video_hour_at_15fps"] = report["parts"]["whole_path_fps15"]["gpu_s_per_video_hour"]
        tar = os.environ.get("GPU_TABLES_TAR")
        if tar and (tmp / "o15").is_dir():  # the 15 fps tables of the first copy, for parity at home
            keep = tmp / "tables"
            keep.mkdir()
            for p in (tmp / "o15").glob("*_00.landmarks.parquet"):
                shutil.copy(p, keep / p.name.replace("_00.landmarks", ".landmarks"))
            subprocess.run(["tar", "czf", tar, "-C", str(keep), "."], check=True)
    report["torch"] = torch.__version__
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    save()
    return report


# ------------------------------------------------------------------------------------------------ CPU baseline
def cpu_baseline(n_clips: int, workers: int) -> dict:
    """The CPU extractor and pose-format on the same clips, every frame, in one run on this machine."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_extract import run_measured

    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    clips = pick_clips(n_clips)
    venv_bin = Path(sys.executable).parent
    res = {}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-cpu-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "clips"
        folder.mkdir()
        for c in clips:
            (folder / c.name).symlink_to(c.resolve())
        def ours(out: str, *flags: str) -> list[str]:
            return [sys.executable, "-m", "signbridge.cli", "extract", str(folder), "-o", str(tmp / out), "--fps", "0",
                    "--no-progress", "--log-level", "WARNING", *flags]

        outs = {"signbridge_cpu": "o", "signbridge_gpu_extractor_on_cpu": "g"}
        for name, cmd in (
            ("signbridge_cpu", ours("o", "--workers", str(workers))),
            ("pose_format", [str(venv_bin / "videos_to_poses"), "-d", str(folder), "--num-workers", str(workers)]),
            ("signbridge_gpu_extractor_on_cpu", ours("g", "--extractor", "gpu", "--device", "cpu")),
        ):
            r = run_measured(cmd, env)
            if name == "pose_format":
                from pose_format import Pose

                r["frames"] = sum(int(Pose.read(p.read_bytes()).body.data.shape[0]) for p in folder.glob("*.pose"))
            else:
                r["frames"] = sum(json.loads(p.read_text())["stats"]["frames"]
                                  for p in (tmp / outs[name]).glob("*.stats.json"))
            r["frames_per_s"] = round(r["frames"] / r["wall_s"], 1)
            r["frames_per_s_per_core"] = round(r["frames_per_s"] / workers, 1)
            res[name] = r
            print(f"{name}: {r['frames']} frames in {r['wall_s']:.1f} s = {r['frames_per_s']} frames/s "
                  f"({workers} workers, load {r.get('load_during')})", flush=True)
    return {"clips": len(clips), "workers": workers, "fps": 0, "runs": res}


def main() -> None:
    from signbridge.settings import setting

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parity")
    p.add_argument("--clips", type=int, default=60)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int)
    p.add_argument("--gpu-tables", type=Path)
    p.add_argument("--floor", action="store_true", help="also MediaPipe at 636 px against 640 px: the noise floor")
    p.add_argument("--keep", type=Path, help="write the tables here and keep them (default: a temporary folder)")
    p.add_argument("--results", type=Path, default=RESULTS / "extract_gpu_parity.json")
    s = sub.add_parser("speed")
    s.add_argument("--clips-dir", type=Path, default=DATA / "wlasl_clips")
    s.add_argument("--video", type=Path)
    s.add_argument("--copies", type=int, default=8)
    s.add_argument("--device", default="cuda")
    s.add_argument("--streams", default="128,64,256")
    s.add_argument("--budget-s", type=float, default=480)
    s.add_argument("--batches", default="64,128,256", help="engine-only batch sizes")
    s.add_argument("--precision", default="fp16", choices=setting("gpu_precision").choices, help="of the whole-path runs")
    s.add_argument("--sweep", default="fp32,fp16", help="engine-only precisions")
    s.add_argument("--loops", default="2,1", help="batching loops of the whole-path runs (the first for all; the "
                   "others at the first stream count too)")
    s.add_argument("--results", type=Path, default=RESULTS / "extract_gpu.json")
    c = sub.add_parser("cpu")
    c.add_argument("--clips", type=int, default=40)
    c.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    c.add_argument("--results", type=Path, default=RESULTS / "extract_gpu_cpu_baseline.json")
    a = ap.parse_args()
    if a.cmd == "parity":
        write(a.results, parity(a.clips, a.device, a.gpu_tables, a.workers, a.floor, a.keep))
    elif a.cmd == "speed":
        speed(a.clips_dir, a.video, a.copies, a.device, [int(x) for x in a.streams.split(",")], a.budget_s, a.results,
              [int(x) for x in a.batches.split(",")], a.precision, a.sweep.split(","),
              [int(x) for x in a.loops.split(",")])
    else:
        write(a.results, cpu_baseline(a.clips, a.workers))


if __name__ == "__main__":
    main()
