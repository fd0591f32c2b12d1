"""The same short-clip extraction from two commits, interleaved: does a change show end to end?

    .venv/bin/python benchmarks/ab_extract_clips.py d9f5c4c --rounds 4   # that commit against the working tree

Runs ``signbridge extract DIR --fps 0 --workers 2`` on the first ``--clips`` WLASL train clips (as
``bench_extract_clips.py speed``) with the package from ``git archive COMMIT`` and with this checkout, in
alternating order (A B, B A, ...) so drift falls on both. Writes ``benchmarks/results/extract_clips_ab.json``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_extract import RESULTS, run_measured  # noqa: E402
from bench_extract_clips import pick_clips  # noqa: E402

from signbridge.bench import machine_info, write_results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("commit")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--clips", type=int, default=30)
    a = ap.parse_args()
    env0 = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        tmp = Path(tmp)
        old = tmp / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", a.commit, "signbridge", "schemas"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        folder = tmp / "clips"
        folder.mkdir()
        for c in pick_clips(a.clips):
            (folder / c.name).symlink_to(c.resolve())
        roots = {a.commit: old, "working tree": REPO}
        runs: dict[str, list[dict]] = {k: [] for k in roots}
        here = os.getcwd()
        os.chdir(tmp)  # `python -m` puts the current folder first on the path: it must not hold a signbridge
        try:
            for r in range(a.rounds):
                for i, (name, root) in enumerate(roots.items() if r % 2 == 0 else reversed(roots.items())):
                    out = tmp / f"out-{r}-{i}"
                    cmd = [sys.executable, "-m", "signbridge.cli", "extract", str(folder), "-o", str(out),
                           "--workers", "2", "--fps", "0", "--no-progress", "--log-level", "WARNING"]
                    res = run_measured(cmd, {**env0, "PYTHONPATH": str(root)})
                    runs[name].append(res)
                    print(f"  round {r + 1}/{a.rounds} {name:14s} {res}", flush=True)
        finally:
            os.chdir(here)
    diff = [n["cpu_s"] - o["cpu_s"] for o, n in zip(runs[a.commit], runs["working tree"])]
    summary = {k: {"wall_s_mean": round(statistics.mean(x["wall_s"] for x in v), 2),
                   "cpu_s_mean": round(statistics.mean(x["cpu_s"] for x in v), 2)} for k, v in runs.items()}
    result = {"commit": a.commit, "clips": a.clips, "rounds": a.rounds, "runs": runs, "summary": summary,
              "cpu_s_diff_per_round": [round(x, 2) for x in diff],
              "cpu_s_diff_per_clip_mean": round(statistics.mean(diff) / a.clips, 3)}
    print(summary, result["cpu_s_diff_per_round"], result["cpu_s_diff_per_clip_mean"])
    write_results(RESULTS / "extract_clips_ab.json", {**result, "machine_info": machine_info()})


if __name__ == "__main__":
    main()
