"""``signbridge bench NAME``: run a benchmark script from ``benchmarks/``.

Benchmarks live beside the package (they compare against third-party tools
and read ``../shared/data``), so this command only finds and runs them with the
same interpreter; each prints its table and writes JSON under
``benchmarks/results/``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from signbridge.errors import SignBridgeError


def machine_info() -> dict:
    """Where and under what load a benchmark ran: numbers from a shared box mean little without it."""
    import os
    import platform

    return {"host": platform.node(), "cpus": os.cpu_count(), "load_avg": list(os.getloadavg())}


def write_results(path: str | Path, report: dict) -> Path:
    """The one way benchmark scripts save their JSON (under benchmarks/results/ by convention)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"written: {path}", file=sys.stderr)
    return path


def benchmarks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "benchmarks"


def available() -> dict[str, Path]:
    d = benchmarks_dir()
    return {p.stem[len("bench_"):]: p for p in sorted(d.glob("bench_*.py"))} if d.is_dir() else {}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark script (prints a table, writes benchmarks/results/*.json)",
                       description="Run a benchmark from benchmarks/. Arguments after NAME go to the script.")
    p.add_argument("name", nargs="?", help="benchmark name (omit to list them)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    p.set_defaults(func=_run)


def _run(args) -> int:
    found = available()
    if not args.name:
        if not found:
            print("no benchmarks found (they ship with the source checkout, in benchmarks/)")
        for name, path in found.items():
            print(f"{name:<20} {path}")
        return 0
    if args.name not in found:
        raise SignBridgeError(f"no benchmark named {args.name!r}",
                              hint=f"available: {', '.join(found) or 'none (run from a source checkout)'}")
    return subprocess.call([sys.executable, str(found[args.name]), *args.args])
