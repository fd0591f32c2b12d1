"""``eval-compose``: sacreBLEU and chrF of every composer backend on the gloss->English dev sets.

Data: ``../shared/data/gloss_english`` (ASLG-PC12 dev: synthetic glosses in
English order; NCSLGR dev: real ASL glosses). LLM backends are slow on two CPU
cores, so they are scored on the first ``limit`` rows of each set (a fixed,
reproducible subset); rules are scored on the same subset and on the full set.
The cache is bypassed so sentences/s measure the backend itself.
"""
from __future__ import annotations

import csv
import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from signbridge.compose.core import Item, compose_items
from signbridge.compose.gloss import split_gloss
from signbridge.errors import InputError
from signbridge.settings import Settings

log = logging.getLogger(__name__)

SETS = {"aslg_pc12": "aslg_pc12.dev.tsv", "ncslgr": "ncslgr.dev.tsv"}


@dataclass
class Score:
    backend: str
    dataset: str
    rows: int
    bleu: float | None = None
    chrf: float | None = None
    sentences_per_s: float | None = None
    seconds: float | None = None
    rejected: int = 0
    failed: int = 0
    model: str = ""
    status: str = "ok"
    examples: list[dict] = field(default_factory=list)


def load_pairs(path: Path) -> list[tuple[str, str]]:
    """(gloss, english) rows; TAB-split without CSV quoting (NCSLGR glosses contain quotes)."""
    if not path.is_file():
        raise InputError("evaluation file not found", source=str(path),
                         hint="point --data at the gloss_english folder (../shared/data/gloss_english)")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0][:2] != ["gloss", "english"]:
        raise InputError("expected a 'gloss<TAB>english' header", source=str(path))
    return [(r[0], r[1]) for r in rows[1:] if len(r) >= 2]


def score(hyps: Sequence[str], refs: Sequence[str]) -> tuple[float, float]:
    """Corpus BLEU (13a, case-insensitive: ASLG-PC12 references are lower-cased) and chrF."""
    import sacrebleu

    bleu = sacrebleu.corpus_bleu(list(hyps), [list(refs)], lowercase=True, force=True).score
    chrf = sacrebleu.corpus_chrf(list(hyps), [list(refs)]).score
    return round(bleu, 2), round(chrf, 2)


def run_backend(name: str, pairs: list[tuple[str, str]], settings: Settings, dataset: str) -> Score:
    items = []
    for g, _ in pairs:
        labels = split_gloss(g)
        items.append(Item(labels=labels, confidences=[1.0] * len(labels)))
    t0 = time.perf_counter()
    texts, stats = compose_items(items, settings.replace(composer=name), use_cache=False)
    el = time.perf_counter() - t0
    if stats.fallback_from:
        return Score(backend=name, dataset=dataset, rows=len(pairs), status="unavailable (fell back to rules)")
    b, c = score(texts, [e for _, e in pairs])
    ex = [{"gloss": g, "hyp": h, "ref": e} for (g, e), h in list(zip(pairs, texts))[:3]]
    return Score(backend=name, dataset=dataset, rows=len(pairs), bleu=b, chrf=c, seconds=round(el, 3),
                 sentences_per_s=round(len(pairs) / el, 2) if el > 0 else None, rejected=stats.rejected,
                 failed=stats.failed, model=stats.model, examples=ex)


def evaluate(settings: Settings, data_dir: str | Path, backends: Sequence[str] = ("rules", "local", "vllm"),
             limit: int = 200) -> dict:
    data = Path(data_dir)
    results: list[Score] = []
    for ds, fname in SETS.items():
        pairs = load_pairs(data / fname)
        subset = pairs[:limit] if limit else pairs
        for be in backends:
            if be == "rules":
                full = run_backend("rules", pairs, settings, ds)
                full.status = "ok (full set)"
                results.append(full)
            results.append(run_backend(be, subset, settings, f"{ds}[:{len(subset)}]"))
    return {"limit": limit, "data": str(data), "host": platform.node(), "python": platform.python_version(),
            "metric": "sacreBLEU corpus BLEU (13a, lowercase) and chrF, v" + _sacrebleu_version(),
            "results": [asdict(r) for r in results]}


def _sacrebleu_version() -> str:
    import sacrebleu

    return sacrebleu.__version__


def table(report: dict) -> str:
    head = "| backend | set | rows | BLEU | chrF | sentences/s | guard rejections | status |\n|---|---|---:|---:|---:|---:|---:|---|"
    lines = [head]
    for r in report["results"]:
        f = lambda v, fmt="{:.1f}": "–" if v is None else fmt.format(v)  # noqa: E731
        lines.append(f"| {r['backend']} | {r['dataset']} | {r['rows']} | {f(r['bleu'])} | {f(r['chrf'])} | "
                     f"{f(r['sentences_per_s'], '{:.1f}')} | {r['rejected']} | {r['status']} |")
    return "\n".join(lines)


def write_json(report: dict, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p
