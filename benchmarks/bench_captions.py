"""Caption quality per composer backend: share of cues and sentences breaking each rule, in one run.

    .venv/bin/python benchmarks/bench_captions.py [--tracks 10] [--backends rules,local,vllm]

Tracks: synthetic 3-minute lessons of 70 signs (signbridge.captions.synthetic, seeds 0..N-1), each composed
by every backend (cache bypassed), captioned, written as SRT, read back and checked with
signbridge.captions.rules and signbridge.compose.faithful (the same checks the tests use). The same as
`signbridge eval-captions`, plus the machine's load. Writes benchmarks/results/caption_quality.json.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signbridge.bench import machine_info, write_results  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=10, help="synthetic tracks (seeds 0..N-1)")
    ap.add_argument("--backends", default="rules,local,vllm")
    ap.add_argument("--json-out", dest="json", metavar="PATH",
                    default=str(ROOT / "benchmarks" / "results" / "caption_quality.json"),
                    help="where the JSON results go (was --json PATH: signbridge's --json means JSON on stdout)")
    ap.add_argument("--json", dest="json", help=argparse.SUPPRESS)  # deprecated spelling
    args = ap.parse_args()
    from signbridge.captions.quality import evaluate, table
    from signbridge.captions.synthetic import synthetic_track
    from signbridge.settings import load_settings

    settings = load_settings(env={"HF_HUB_OFFLINE": "1"}, home=tempfile.mkdtemp(prefix="sb-bench-"))
    tracks = [synthetic_track(seed) for seed in range(args.tracks)]
    report = evaluate(settings, tracks, [b.strip() for b in args.backends.split(",") if b.strip()])
    print(table(report))
    for r in report["results"]:
        if r["status"] == "ok":
            print(f"{r['backend']}: {r['cues']} cues, {100 * r['over_17cps_no_room']:.1f}% over 17 cps with no pause "
                  f"to extend into; guard rejected {r['guard_rejected']} of {r['generated']} generated sentences "
                  f"{r.get('guard_reasons', {})}")
    write_results(args.json, {**machine_info(), **report})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
