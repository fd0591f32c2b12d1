"""Sentence composition throughput: sentences/s per composer backend, side by side in one run.

    .venv/bin/python benchmarks/bench_compose.py [--rows 24]

* rules on every row of both dev sets;
* local (SmolLM2-135M, CPU) on the first --rows ASLG-PC12 rows: batch 8 vs batch 1, and 1 vs 2 torch threads;
* vllm over HTTP against the OpenAI-compatible test server (signbridge.compose.serve) answering with the
  rules grammar (client + HTTP overhead only) and with SmolLM2 (first --rows rows);
* vllm offline: needs vllm + a GPU; reported as unavailable here.

Model load time is excluded (measured separately). The cache is bypassed.
Quality (BLEU/chrF) comes from `signbridge eval-compose`, not from here.
Writes benchmarks/results/compose.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signbridge.bench import machine_info, write_results  # noqa: E402
SHARED = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def items_for(pairs):
    from signbridge.compose.core import Item
    from signbridge.compose.gloss import split_gloss

    return [Item(labels=split_gloss(g), confidences=[1.0] * len(split_gloss(g))) for g, _ in pairs]


def run(name, items, settings, backend=None):
    from signbridge.compose import compose_items

    t0 = time.perf_counter()
    texts, stats = compose_items(items, settings, backend=backend, use_cache=False)
    el = time.perf_counter() - t0
    return {"backend": name, "rows": len(items), "seconds": round(el, 3), "sentences_per_s": round(len(items) / el, 2),
            "guard_rejected": stats.rejected, "fallback_from": stats.fallback_from, "model": stats.model}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=24, help="rows for the LLM backends")
    ap.add_argument("--json-out", dest="json", metavar="PATH",
                    default=str(ROOT / "benchmarks" / "results" / "compose.json"),
                    help="where the JSON results go (was --json PATH: signbridge's --json means JSON on stdout)")
    ap.add_argument("--json", dest="json", help=argparse.SUPPRESS)  # deprecated spelling
    args = ap.parse_args()
    data = SHARED / "gloss_english"
    if not data.is_dir():
        print(f"gloss_english not found at {data} (set SIGNBRIDGE_SHARED_DATA)", file=sys.stderr)
        return 2
    import tempfile

    from signbridge.compose.evaluate import load_pairs
    from signbridge.settings import load_settings

    settings = load_settings(env={}, home=tempfile.mkdtemp(prefix="sb-bench-"))
    aslg = load_pairs(data / "aslg_pc12.dev.tsv")
    ncslgr = load_pairs(data / "ncslgr.dev.tsv")
    rows = [run("rules (all rows, both sets)", items_for(aslg + ncslgr), settings)]
    few = aslg[: args.rows]

    from signbridge.compose.local import LocalBackend, load_model

    local_settings = settings.replace(composer="local")
    t0 = time.perf_counter()
    b8 = LocalBackend(local_settings, batch_size=8)
    load_model(str(b8.path))
    load_s = time.perf_counter() - t0
    r8 = run("local SmolLM2, batch 8, 1 thread (default)", items_for(few), local_settings,
             LocalBackend(local_settings, batch_size=8))
    r1 = run("local SmolLM2, batch 1, 1 thread", items_for(few), local_settings,
             LocalBackend(local_settings, batch_size=1))
    r2 = run("local SmolLM2, batch 8, 2 threads", items_for(few), local_settings,
             LocalBackend(local_settings, batch_size=8, threads=2))
    for r in (r8, r1, r2):
        r["load_s"] = round(load_s, 2)
    r8["speedup_vs_batch1"] = round(r8["sentences_per_s"] / r1["sentences_per_s"], 2)
    r8["speedup_vs_2threads"] = round(r8["sentences_per_s"] / r2["sentences_per_s"], 2)
    rows += [r8, r1, r2]

    from signbridge.compose.serve import ChatServer, rules_responder, smollm_responder

    with ChatServer(rules_responder, model="signbridge-rules") as srv:
        rows.append(run("vllm HTTP client -> test server (rules answers)", items_for(aslg[:200]),
                        settings.replace(composer="vllm", llm_url=srv.url)))
    with ChatServer(smollm_responder(), model="smollm2-135m-instruct") as srv:
        rows.append(run("vllm HTTP client -> test server (SmolLM2 answers)", items_for(few),
                        settings.replace(composer="vllm", llm_url=srv.url)))
    try:
        import vllm  # noqa: F401

        offline = "installed (not benchmarked by this script on CPU)"
    except ImportError:
        offline = "not installed here (GPU extra); no number"
    report = {**machine_info(), "rows": rows, "vllm_offline": offline}
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; vllm offline: {offline}")
    print("| backend | rows | seconds | sentences/s | guard rejections |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['rows']} | {r['seconds']:.2f} | {r['sentences_per_s']:.2f} | "
              f"{r['guard_rejected']} |")
    print(f"local: model load {load_s:.1f} s; batch 8 is {r8['speedup_vs_batch1']}x batch 1 and "
          f"{r8['speedup_vs_2threads']}x two threads")
    write_results(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
