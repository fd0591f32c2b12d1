"""Orchestration cost: the same clips through `signbridge run` (no Airflow, one process per video),
`signbridge process` with dag.test (one process), and with LocalExecutor workers; plus a rerun
with nothing to do. Side by side in one run, reported as ratios (the machine is shared and noisy).

    python benchmarks/bench_orchestrate.py [--clips 12] [--parallelism 2]

Prints a table and writes benchmarks/results/orchestrate.json. Needs ../shared/data.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
STAGES = ("probe", "extract", "recognize", "compose", "speak", "mux")


def _free_base_port() -> int:
    from signbridge.storage.embedded import free_base_port

    return free_base_port()


def pick_clips(n: int) -> list[Path]:
    rows = list(csv.DictReader(open(DATA / "wlasl_clips" / "labels.csv")))
    rows = [r for r in rows if r["nslt_split"] == "train" and int(r["width"]) <= 640]
    rows.sort(key=lambda r: r["file"])
    return [DATA / "wlasl_clips" / r["file"] for r in rows[:n]]


def stage_sums(manifest: dict) -> dict[str, float]:
    out = {s: 0.0 for s in STAGES}
    for v in manifest["videos"]:
        for s, t in (v.get("stage_timings") or {}).items():
            if s in out:
                out[s] += float(t)
    return {k: round(v, 2) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--parallelism", type=int, default=2)
    args = ap.parse_args()
    if not (DATA / "SOURCES.md").is_file():
        print(f"research data not found at {DATA}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    from signbridge.media import media_info
    from signbridge.settings import load_settings
    from signbridge.storage.embedded import EmbeddedStore

    clips = pick_clips(args.clips)
    video_s = sum(media_info(c).duration_s for c in clips)
    work = Path(tempfile.mkdtemp(prefix="sb-bench-orch-"))
    home = work / "home"
    settings = load_settings(env={}, home=str(home), s3_port=_free_base_port())
    emb = EmbeddedStore(settings)
    emb.up(timeout=90)
    cs = emb.client_settings()
    bucket = f"s3://bench-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(home), "AWS_ENDPOINT_URL": cs.s3_endpoint, "AWS_ACCESS_KEY_ID": cs.s3_access_key,
                "AWS_SECRET_ACCESS_KEY": cs.s3_secret_key, "SIGNBRIDGE_UPLOADS": f"{bucket}/uploads"})
    py = [sys.executable, "-m", "signbridge.cli"]
    results = []
    try:
        def process(name: str, out: str, extra: list[str]) -> None:
            t0 = time.perf_counter()
            res = subprocess.run([*py, "process", "--json", "-o", out, *extra, *map(str, clips)], env=env,
                                 capture_output=True, text=True)
            wall = time.perf_counter() - t0
            doc = json.loads(res.stdout)
            tasks = doc.get("tasks", [])
            task_s = sum((t["end"] - t["start"]) for t in tasks if t.get("start") and t.get("end"))
            results.append({"mode": name, "wall_s": round(wall, 1), "videos": len(clips),
                            "ok": sum(v["status"] in ("ok", "skipped") for v in doc["manifest"]["videos"]),
                            "stages_s": stage_sums(doc["manifest"]), "task_s": round(task_s, 1),
                            "extract_tasks": sum(t["task_id"] == "extract" for t in tasks)})

        # A: no Airflow, one `signbridge run` per video
        t0 = time.perf_counter()
        ok, stages = 0, {s: 0.0 for s in STAGES}
        for c in clips:
            res = subprocess.run([*py, "run", str(c), "-o", f"{bucket}/out-run", "--workers", "1"], env=env,
                                 capture_output=True, text=True)
            ok += res.returncode == 0
        wall = time.perf_counter() - t0
        from signbridge.storage import open_store

        runs = open_store(f"{bucket}/out-run", cs)
        for o in runs.list("runs/"):
            if o.key.endswith("manifest.json"):
                for k, v in stage_sums(json.loads(runs.get_bytes(o.key))).items():
                    stages[k] += v
        results.append({"mode": "signbridge run (per video)", "wall_s": round(wall, 1), "videos": len(clips),
                        "ok": ok, "stages_s": {k: round(v, 2) for k, v in stages.items()}})
        process("process, dag.test", f"{bucket}/out-inline", [])
        process(f"process, LocalExecutor x{args.parallelism}", f"{bucket}/out-local",
                ["--executor", "local", "--parallelism", str(args.parallelism)])
        process("process rerun (all done)", f"{bucket}/out-inline", [])
    finally:
        emb.down()
        shutil.rmtree(work, ignore_errors=True)

    base = results[0]["wall_s"]
    print(f"\n{len(clips)} WLASL clips, {video_s:.1f} s of video, {os.cpu_count()} CPU cores, "
          f"{platform.processor() or platform.machine()}\n")
    head = f"{'mode':<32} {'wall s':>7} {'s/video':>8} {'x realtime':>10} {'vs run':>7}  extract  recog  speak   mux"
    print(head)
    print("-" * len(head))
    for r in results:
        st = r["stages_s"]
        print(f"{r['mode']:<32} {r['wall_s']:>7.1f} {r['wall_s'] / r['videos']:>8.2f} {r['wall_s'] / video_s:>10.2f} "
              f"{r['wall_s'] / base:>7.2f}  {st['extract']:>7.1f} {st['recognize']:>6.1f} {st['speak']:>6.1f} "
              f"{st['mux']:>5.1f}")
    from signbridge.bench import machine_info, write_results

    write_results(REPO / "benchmarks" / "results" / "orchestrate.json",
                  {"clips": [c.name for c in clips], "video_seconds": round(video_s, 2),
                   "cpu_count": os.cpu_count(), "parallelism": args.parallelism, "results": results,
                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine_info": machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
