"""Probe outputs: accuracy curve (PNG+SVG), projection of the best layer, CSV/JSON tables, an HTML page.

All plotting uses matplotlib's Agg backend so it runs headless in CI and on
GPU boxes without a display.
"""
from __future__ import annotations

import csv
import html
import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from signbridge.probe.probes import ProbeResult

_COLOURS = {"last": "#1f77b4", "mean": "#d62728", "image": "#2ca02c"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curve(result: ProbeResult, out: Path, title: str, generated_acc: float | None = None,
               baseline: tuple[str, float] | None = None) -> list[Path]:
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=120)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    poolings = list(dict.fromkeys(s.pooling for s in result.scores))
    for p in poolings:
        sc = sorted((s for s in result.scores if s.pooling == p), key=lambda s: s.layer)
        x = [s.layer for s in sc]
        c = _COLOURS.get(p, None)
        ax.plot(x, [s.accuracy for s in sc], marker="o", ms=3, color=c, label=f"probe, {p} pooling")
        ax.fill_between(x, [s.ci_low for s in sc], [s.ci_high for s in sc], color=c, alpha=0.2, lw=0)
        ax.plot(x, [s.control for s in sc], ls="--", lw=1, color=c, alpha=0.7, label=f"shuffled-label control, {p}")
    s0 = result.scores[0]
    ax.axhline(s0.chance, color="grey", ls=":", lw=1.2, label=f"chance ({s0.chance:.1%})")
    maj = float(np.mean([s.majority for s in result.scores]))
    if abs(maj - s0.chance) > 1e-3:
        ax.axhline(maj, color="black", ls="-.", lw=0.8, label=f"majority ({maj:.1%})")
    if baseline is not None:
        ax.axhline(baseline[1], color="#ff7f0e", ls="--", lw=1.2, label=f"same probe on {baseline[0]} ({baseline[1]:.1%})")
    if generated_acc is not None:
        ax.axhline(generated_acc, color="#9467bd", lw=1.5, label=f"model's own answer ({generated_acc:.1%})")
    ax.set_xlabel("layer (0 = input to the first block)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    paths = [out / "curve.png", out / "curve.svg"]
    for p in paths:
        fig.savefig(p)
    plt.close(fig)
    return paths


def project(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D view of one layer: UMAP when umap-learn is installed, otherwise PCA (after standardising)."""
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit_transform(np.asarray(x, dtype=np.float64))
    try:
        import umap  # type: ignore

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(z), "UMAP"
    except ImportError:
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(z), "PCA"


def plot_projection(x: np.ndarray, labels: np.ndarray, out: Path, title: str) -> tuple[list[Path], str]:
    plt = _plt()
    xy, method = project(x)
    classes = sorted(set(labels.tolist()))
    cmap = plt.get_cmap("tab20" if len(classes) <= 20 else "gist_ncar")
    fig, ax = plt.subplots(figsize=(6, 5.5), dpi=120)
    for i, c in enumerate(classes):
        m = labels == c
        col = cmap(i / max(1, len(classes) - 1)) if len(classes) > 20 else cmap(i)
        ax.scatter(xy[m, 0], xy[m, 1], s=8, color=col, alpha=0.6)
        cx, cy = np.median(xy[m], axis=0)
        ax.annotate(str(c), (cx, cy), fontsize=8, weight="bold", ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.7, lw=0))
    ax.set_title(f"{title}\n{method} of the best layer, labels at class medians", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    paths = [out / "projection.png", out / "projection.svg"]
    for p in paths:
        fig.savefig(p)
    plt.close(fig)
    return paths, method


def per_class_recall(result: ProbeResult, labels: np.ndarray, pooling: str, layer: int) -> dict[str, float]:
    pred = result.predictions[(pooling, layer)]
    return {c: float((pred[labels == c] == c).mean()) for c in result.classes}


def write_tables(result: ProbeResult, out: Path) -> Path:
    path = out / "layers.csv"
    rows = [s.to_dict() for s in result.scores]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def write_answers(ids: Sequence[str], labels: np.ndarray, answers: Sequence[str], correct: Sequence[bool],
                  parsed: Sequence[str | None], out: Path) -> Path:
    path = out / "answers.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "answer", "parsed_letter", "correct"])
        for row in zip(ids, labels, answers, parsed, correct):
            w.writerow([row[0], row[1], row[2], row[3] or "", int(row[4])])
    return path


def summarise_answers(labels: np.ndarray, answers: Sequence[str], correct: Sequence[bool]) -> dict[str, Any]:
    return {
        "accuracy": float(np.mean(correct)) if len(correct) else None,
        "n": len(answers),
        "most_common": Counter(a.strip().lower() for a in answers).most_common(10),
    }


def write_html(out: Path, summary: dict[str, Any], result: ProbeResult) -> Path:
    """One self-contained page (SVGs inlined) that can be mailed or attached to an issue."""
    def svg(name: str) -> str:
        p = out / name
        if not p.exists():
            return ""
        text = p.read_text()
        return text[text.find("<svg"):]

    e = html.escape
    best = summary["best"]
    rows = "".join(
        f"<tr><td>{s.pooling}</td><td>{s.layer}</td><td>{s.accuracy:.3f}</td><td>{s.ci_low:.3f}–{s.ci_high:.3f}</td>"
        f"<td>{s.control:.3f}</td><td>{s.selectivity:+.3f}</td><td>{s.majority:.3f}</td></tr>"
        for s in sorted(result.scores, key=lambda s: (s.pooling, s.layer)))
    gen = summary.get("generated")
    gen_html = ""
    if gen and gen.get("accuracy") is not None:
        common = "".join(f"<li><code>{e(a) or '(empty)'}</code> × {n}</li>" for a, n in gen["most_common"])
        gen_html = (f"<h2>Latent versus generated</h2><p>Asked <q>{e(summary['prompt'])}</q>, the model's own answer "
                    f"names the right label for <b>{gen['accuracy']:.1%}</b> of {gen['n']} inputs; the best linear probe "
                    f"reads it from layer {best['layer']} at <b>{best['accuracy']:.1%}</b> "
                    f"(gap {summary['gap']:+.1%}).</p><p>Most common answers:</p><ul>{common}</ul>")
    ib = summary.get("input_baseline")
    base_html = (f" The same probe on {e(ib['name'])} reaches {ib['accuracy']:.1%}: that is what the input alone gives."
                 if ib else "")
    recall = summary.get("per_class_recall_best") or {}
    recall_html = " ".join(f"<span>{e(k)}:&nbsp;{v:.2f}</span>" for k, v in recall.items())
    skipped = summary.get("skipped") or []
    skipped_html = ("<h2>Skipped inputs</h2><ul>" + "".join(f"<li>{e(a)}: {e(b)}</li>" for a, b in skipped[:50])
                    + "</ul>") if skipped else ""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Probe: {e(summary['model'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;font-size:.85rem}}td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}}
svg{{max-width:100%;height:auto}}span{{margin-right:.6rem;font-size:.85rem}}</style></head><body>
<h1>Layer-wise linear probes</h1>
<p>Model <code>{e(summary['model'])}</code>; data <code>{e(summary['data'])}</code>: {summary['n_samples']} samples,
{summary['n_classes']} labels (chance {summary['chance']:.1%}). Probe: standardised L2 logistic regression (C={summary['C']}),
{summary['repeats']} × {summary['folds']}-fold stratified{' grouped' if summary['grouped'] else ''} cross-validation; the band is a
95% t-interval over repeats; the dashed line is the same probe on shuffled labels.</p>
<p><b>Best layer: {best['layer']}</b> ({best['pooling']} pooling), accuracy {best['accuracy']:.1%}
[{best['ci_low']:.1%}, {best['ci_high']:.1%}], selectivity {best['selectivity']:+.1%}.{base_html}</p>
{svg('curve.svg')}
{gen_html}
<h2>Best layer, projected</h2>{svg('projection.svg')}
<p>Per-label recall at the best layer (first repeat): {recall_html}</p>
<h2>All layers</h2><table><tr><th>pooling</th><th>layer</th><th>accuracy</th><th>95% CI</th><th>control</th>
<th>selectivity</th><th>majority</th></tr>{rows}</table>
{skipped_html}
<p><small>Written by <code>signbridge probe</code>. Files: layers.csv, results.json, curve.png/svg,
projection.png/svg{', answers.csv' if gen_html else ''}.</small></p></body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path


def write_json(out: Path, summary: dict[str, Any], result: ProbeResult) -> Path:
    path = out / "results.json"
    doc = dict(summary, layers=[s.to_dict() for s in result.scores])
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path
