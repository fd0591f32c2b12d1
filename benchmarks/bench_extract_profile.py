"""Where extraction's CPU goes: a ``perf`` profile of ``signbridge extract`` (one worker, every frame).

Samples the whole process tree (the worker, ffmpeg) after start-up (``perf record -D``), then groups the
samples by what runs them: XNNPACK inference, OpenCV (the crops of each model's input), the rest of
MediaPipe's graph, ffmpeg, Python, the kernel and the C library. Needs ``perf`` (linux-perf) and
``../shared/data``; about 2 minutes on 2 cores.

    .venv/bin/python benchmarks/bench_extract_profile.py    # table + benchmarks/results/extract_profile.json
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signbridge.bench import machine_info, write_results  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "bench" / "wlasl_concat_640x480_30fps.mp4"
LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$")


def category(dso: str, sym: str) -> str:
    if "xnn" in sym.lower():
        return "XNNPACK inference"
    if "cv::" in sym or dso.startswith("libopencv"):
        return "OpenCV (input crops)"
    if "mediapipe" in dso or "_framework_bindings" in dso or "mediapipe" in sym:
        return "rest of the MediaPipe graph"
    if dso.startswith(("ffmpeg", "libav", "libsw", "libx264", "libdav1d")):
        return "ffmpeg (decode, RGB conversion, pipe)"
    if "python" in dso or dso.startswith(("_", "libffi")) or "numpy" in dso:
        return "Python (our loop, numpy)"
    if dso.startswith("[kernel"):
        return "kernel (pipes, scheduling, page faults)"
    if dso.startswith(("libc.", "libc-", "libm.", "libstdc++", "libgcc", "ld-linux", "libpthread")):
        return "C/C++ runtime (malloc, memcpy, locks)"
    return "other"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(VIDEO))
    ap.add_argument("--skip-ms", type=int, default=8000, help="start sampling this late (start-up excluded)")
    ap.add_argument("--json-out", dest="json", metavar="PATH",
                    default=str(ROOT / "benchmarks" / "results" / "extract_profile.json"),
                    help="where the JSON results go (was --json PATH: signbridge's --json means JSON on stdout)")
    ap.add_argument("--json", dest="json", help=argparse.SUPPRESS)  # deprecated spelling
    args = ap.parse_args()
    if not shutil.which("perf"):
        raise SystemExit("perf is not installed (Debian: apt-get install linux-perf)")
    work = Path(tempfile.mkdtemp(prefix="sb-profile-"))
    try:
        cmd = ["perf", "record", "-F", "499", "-D", str(args.skip_ms), "-o", str(work / "perf.data"), "--",
               sys.executable, "-m", "signbridge.cli", "extract", args.video, "--fps", "0", "--workers", "1",
               "-o", str(work / "out"), "--home", str(work / "home")]
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        report = subprocess.run(["perf", "report", "-i", str(work / "perf.data"), "--stdio", "--no-children",
                                 "--sort", "dso,sym", "--percent-limit", "0"], check=True, capture_output=True,
                                text=True).stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shares: dict[str, float] = defaultdict(float)
    for line in report.splitlines():
        m = LINE.match(line)
        if m:
            shares[category(m.group(2), m.group(4))] += float(m.group(1))
    rows = sorted(shares.items(), key=lambda kv: -kv[1])
    print(f"{'where':<42} {'share of samples':>16}")
    for name, pct in rows:
        print(f"{name:<42} {pct:>15.1f}%")
    write_results(args.json, {**machine_info(), "command": f"perf record -F 499 -D {args.skip_ms} -- python -m "
                                                           "signbridge.cli extract VIDEO --fps 0 --workers 1",
                              "video": args.video, "shares_percent": {k: round(v, 2) for k, v in rows}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
