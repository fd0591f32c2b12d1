"""Measurements: isolated-sign accuracy, per-class recall, confusion matrix, segmentation F1, letters.

All of them run the exported inference model (the TorchScript files), not the
training graph, so what is reported is what ships.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from signbridge.recognize.datasets import Sample
from signbridge.recognize.sequences import concat_frames
from signbridge.recognize.segment import SegmentConfig, match_f1, segment
from signbridge.recognize.train import sample_span


def evaluate_isolated(rec, samples: Sequence[Sample], batch_size: int = 256) -> dict[str, Any]:
    """Whole-clip classification of labelled sequences with the inference runtime."""
    labels = rec.labels
    index = {g: i for i, g in enumerate(labels)}
    spans = [sample_span(s, "active", rec.segment_cfg) for s in samples]
    x = np.concatenate([rec.features(s.frames, sp) for s, sp in zip(samples, spans)]) if samples else \
        np.zeros((0, rec.feature_cfg.n_steps, rec.feature_cfg.n_features), np.float32)
    probs, _ = rec.classify(x, batch_size)
    y = np.array([index.get(s.label, -1) for s in samples])
    order = np.argsort(-probs, axis=1)
    top1 = order[:, 0] == y
    top5 = (order[:, :5] == y[:, None]).any(1)
    present = sorted({s.label for s in samples})
    recall = {g: float(np.mean(top1[y == index[g]])) if g in index else 0.0 for g in present}
    conf = np.zeros((len(present), len(present) + 1), int)  # last column: predicted outside the present labels
    pidx = {g: i for i, g in enumerate(present)}
    for s, o in zip(samples, order[:, 0]):
        pred = labels[o]
        conf[pidx[s.label], pidx.get(pred, len(present))] += 1
    out_of_vocab = sorted({s.label for s in samples if s.label not in index})
    return {"n": len(samples), "top1": float(top1.mean()) if len(y) else 0.0,
            "top5": float(top5.mean()) if len(y) else 0.0, "per_class_recall": recall,
            "confusion_labels": present, "confusion": conf.tolist(), "labels_not_in_model": out_of_vocab}


def plot_confusion(result: dict[str, Any], path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = result["confusion_labels"] + ["(other)"]
    m = np.array(result["confusion"], float)
    m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(max(6, n * 0.22 + 2), max(5, n * 0.22 + 1.5)))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(n - 1), labels[:-1], fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"top-1 {result['top1']:.1%}, top-5 {result['top5']:.1%}, n={result['n']}")
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def concatenated_sequences(samples: Sequence[Sample], n_seq: int = 30, per_seq: int = 8, seed: int = 0,
                           gap_ms: float = 0.0):
    """Continuous sequences built from isolated clips: (frames, true spans, labels) each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_seq):
        pick = rng.choice(len(samples), size=min(per_seq, len(samples)), replace=False)
        frames, bounds = concat_frames([samples[i].frames for i in pick], gap_ms=gap_ms)
        out.append((frames, bounds, [samples[i].label for i in pick]))
    return out


def evaluate_segmentation(sequences, cfg: SegmentConfig | None = None, thr: float = 0.5) -> dict[str, float]:
    tp = n_pred = n_true = 0
    for frames, bounds, _ in sequences:
        m = match_f1(segment(frames, cfg), bounds, thr)
        tp, n_pred, n_true = tp + m["tp"], n_pred + m["n_pred"], n_true + m["n_true"]
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    return {"sequences": len(sequences), "true_spans": n_true, "predicted_spans": n_pred, "precision": p,
            "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "iou_threshold": thr}


def format_report(result: dict[str, Any], max_rows: int = 80) -> str:
    lines = [f"sequences: {result['n']}   top-1: {result['top1']:.1%}   top-5: {result['top5']:.1%}"]
    if result.get("labels_not_in_model"):
        lines.append(f"labels the model does not know (always wrong): {', '.join(result['labels_not_in_model'])}")
    lines.append("per-class recall (top-1):")
    counts = {g: sum(row) for g, row in zip(result["confusion_labels"], result["confusion"])}
    for g, r in sorted(result["per_class_recall"].items(), key=lambda kv: (kv[1], kv[0]))[:max_rows]:
        lines.append(f"  {g:<16} {r:6.1%}  (n={counts[g]})")
    return "\n".join(lines)
