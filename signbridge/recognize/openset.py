"""Open-set decisions: a calibrated confidence, three tiers, and the checkpoint's calibration file.

A span's confidence is the top softmax probability at a fitted temperature. Two thresholds, chosen on
held-out data for the precision of the words that are *shown* (not for accuracy), cut it into tiers:

    plain      confidence >= thresholds.plain: the word is shown as fact; shown words at or above this
               confidence were right at least ``targets.plain_precision`` of the time on held-out data
               (at the one-sided 95 % lower bound, not as a point estimate)
    uncertain  thresholds.shown <= confidence < plain: the word is shown with the uncertainty marker
    unclear    below thresholds.shown: UNKNOWN, captioned "[unclear sign]"

Words are shown for the first ``shown_classes`` labels (the shown vocabulary); the model is trained on more
glosses than it shows, and a span whose top label lies outside the shown vocabulary is unclear. Held-out
data for the thresholds mixes the shown vocabulary's validation clips with clips of other glosses (trained
but not shown, and never seen; out-of-vocabulary, weighted to half the mass), so a sign outside the
vocabulary counts as a wrong word when it is shown. Glosses that are one sign (``same_signs``,
:mod:`same_signs`) pool their probability before any of this. The file lives beside the model
(``calibration.json``) and names the model and vocabulary it was fitted for; a checkpoint without it, or with
one of another model, does not load.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.errors import ModelError

CALIBRATION_FILE = "calibration.json"
CALIBRATION_FORMAT = 1
TIERS = ("plain", "uncertain", "unclear")
PLAIN_PRECISION = 0.90
SHOWN_PRECISION = 0.70
OOV_WEIGHT = 0.5  # share of the held-out mass given to signs outside the vocabulary
PLAIN_BOUND_Z = 1.645  # plain words: precision >= target at the one-sided 95 % lower bound
# two-letter spellings shown as words (common English words and abbreviations people spell); any other
# reading of one or two letters is unclear (see infer._short_spelling)
TWO_LETTER_WORDS = ("AM", "AN", "AS", "AT", "BE", "BY", "DC", "DO", "DR", "GO", "HE", "HI", "ID", "IF", "IN", "IS",
                    "IT", "LA", "ME", "MR", "MS", "MY", "NO", "NY", "OF", "OH", "OK", "ON", "OR", "SO", "TO", "TV",
                    "UK", "UP", "US", "WE")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of held-out labels (grid search)."""
    if len(y) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 80))
    nll = [-np.mean(np.log(softmax(logits, t)[np.arange(len(y)), y] + 1e-12)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Negative free energy (higher = more in-vocabulary): T * logsumexp(logits / T)."""
    z = logits / temperature
    m = z.max(axis=1)
    return temperature * (m + np.log(np.exp(z - m[:, None]).sum(axis=1)))


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that an in-vocabulary score beats an out-of-vocabulary one (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, "left")
    tied = np.searchsorted(neg, pos, "right") - below
    return float((below + 0.5 * tied).sum() / (len(pos) * len(neg)))


def lowest_threshold(conf: np.ndarray, correct: np.ndarray, weight: np.ndarray, target: float,
                     min_support: float = 10.0, z: float = 0.0) -> float:
    """Lowest confidence t such that shown words (conf >= t) are right >= target of the (weighted) time.

    With ``z`` > 0 the precision must hold at its Wilson lower bound (z standard errors, effective sample
    size of the weights) rather than as a point estimate: a handful of lucky clips above a high cut-off
    does not make a tier that asserts words as fact. Returns 1.0 (show nothing) when no threshold reaches
    the target with at least ``min_support`` weight.
    """
    order = np.argsort(-conf, kind="mergesort")
    c, ok, w = conf[order], correct[order].astype(float), weight[order]
    cum_w, cum_ok = np.cumsum(w), np.cumsum(w * ok)
    prec = cum_ok / np.maximum(cum_w, 1e-12)
    if z > 0:
        n = cum_w ** 2 / np.maximum(np.cumsum(w ** 2), 1e-12)  # Kish effective sample size
        centre = prec + z * z / (2 * n)
        half = z * np.sqrt(prec * (1 - prec) / n + z * z / (4 * n * n))
        prec = (centre - half) / (1 + z * z / n)
    last = np.r_[c[1:] != c[:-1], True]  # only cut between different confidences
    good = np.flatnonzero(last & (prec >= target) & (cum_w >= min_support))
    return float(c[good[-1]]) if good.size else 1.0


def tier_of(conf: float, thresholds: dict[str, float]) -> str:
    if conf >= thresholds["plain"]:
        return "plain"
    if conf >= thresholds["shown"]:
        return "uncertain"
    return "unclear"


def shown_confidence(probs: np.ndarray, shown: int) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, predicted class): a top class outside the first ``shown`` classes gives confidence 0."""
    pred = probs.argmax(1) if len(probs) else np.zeros(0, int)
    conf = probs.max(1) if len(probs) else np.zeros(0)
    return np.where(pred < shown, conf, 0.0), pred


def choose(conf_in: np.ndarray, right_in: np.ndarray, conf_out: np.ndarray) -> dict[str, float]:
    """Thresholds for the precision targets from held-out in-vocabulary and out-of-vocabulary confidences."""
    conf = np.concatenate([conf_in, conf_out])
    correct = np.concatenate([right_in, np.zeros(len(conf_out), bool)])
    if len(conf_out):
        w = np.concatenate([np.full(len(conf_in), (1 - OOV_WEIGHT) / len(conf_in)),
                            np.full(len(conf_out), OOV_WEIGHT / len(conf_out))]) * len(conf)
    else:
        w = np.ones(len(conf))
    plain = lowest_threshold(conf, correct, w, PLAIN_PRECISION, z=PLAIN_BOUND_Z)
    return {"plain": plain, "shown": min(lowest_threshold(conf, correct, w, SHOWN_PRECISION), plain)}


def evaluate(conf_in: np.ndarray, right_in: np.ndarray, conf_out: np.ndarray, thresholds: dict[str, float],
             conf_unseen: np.ndarray | None = None) -> dict[str, Any]:
    """Held-out numbers at the shipped thresholds: shown-word precision/recall, OOV false words, AUROC."""
    res: dict[str, Any] = {"n_in": int(len(conf_in)), "n_out": int(len(conf_out)),
                           "top1": float(right_in.mean()) if len(right_in) else float("nan"),
                           "auroc": auroc(conf_in, conf_out)}
    for name, thr in (("plain", thresholds["plain"]), ("shown", thresholds["shown"])):
        si, so = conf_in >= thr, conf_out >= thr
        n_right = int((si & right_in).sum())
        n_shown = int(si.sum() + so.sum())
        res[name] = {
            "threshold": thr,
            "precision_as_tested": n_right / n_shown if n_shown else None,
            "precision_half_oov": _weighted_precision(si, right_in, so),  # the calibration prior
            "recall": n_right / len(conf_in) if len(conf_in) else None,
            "oov_false_word_rate": float(so.mean()) if len(so) else None,
            "n_shown_in": int(si.sum()), "n_right": n_right, "n_shown_out": int(so.sum())}
        if conf_unseen is not None and len(conf_unseen):
            res[name]["unseen_gloss_false_word_rate"] = float((conf_unseen >= thr).mean())
    return res


def _weighted_precision(shown_in: np.ndarray, right: np.ndarray, shown_out: np.ndarray) -> float | None:
    a = (shown_in & right).mean() * (1 - OOV_WEIGHT) if len(right) else 0.0
    b = shown_in.mean() * (1 - OOV_WEIGHT) + (shown_out.mean() * OOV_WEIGHT if len(shown_out) else 0.0)
    return float(a / b) if b > 0 else None


def reliability(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Accuracy per confidence bin and the expected calibration error (in-vocabulary clips)."""
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf >= lo) & ((conf < hi) | (hi == 1.0))
        if m.any():
            rows.append({"lo": float(lo), "hi": float(hi), "n": int(m.sum()), "confidence": float(conf[m].mean()),
                         "accuracy": float(right[m].mean())})
            ece += m.mean() * abs(conf[m].mean() - right[m].mean())
    return {"bins": rows, "ece": float(ece)}


def write_calibration(ckpt: str | Path, cal: dict[str, Any]) -> Path:
    """Write calibration.json for the checkpoint, stamped with its model and vocabulary hashes."""
    ckpt = Path(ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    doc = {"format": CALIBRATION_FORMAT, "weights_sha256": cfg["weights_sha256"],
           "vocabulary_sha256": cfg["vocabulary_sha256"], "score": "max_softmax",
           "targets": {"plain_precision": PLAIN_PRECISION, "shown_precision": SHOWN_PRECISION,
                       "oov_weight": OOV_WEIGHT, "plain_bound_z": PLAIN_BOUND_Z},
           "fingerspelling": {"tier": "uncertain", "single_letter_words": ["A", "I"],
                              "two_letter_words": list(TWO_LETTER_WORDS)}, **cal}
    path = ckpt / CALIBRATION_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)
    return path


def read_calibration(ckpt: str | Path, config: dict[str, Any]) -> dict[str, Any]:
    """calibration.json of a checkpoint, checked against its model and vocabulary; ModelError otherwise."""
    path = Path(ckpt) / CALIBRATION_FILE
    hint = "recalibrate with `python -m signbridge.recognize.train_hands calibrate --out CHECKPOINT` " \
           "(or `signbridge train`, which writes one)"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError("the checkpoint has no calibration.json (its confidence thresholds)", source=str(ckpt),
                         hint=hint) from None
    except json.JSONDecodeError as e:
        raise ModelError(f"calibration.json is not valid JSON ({e})", source=str(path), hint=hint) from None
    if doc.get("format") != CALIBRATION_FORMAT:
        raise ModelError(f"calibration format {doc.get('format')!r} is not supported", source=str(path), hint=hint)
    if doc.get("vocabulary_sha256") != config.get("vocabulary_sha256") or \
            doc.get("weights_sha256") != config.get("weights_sha256"):
        raise ModelError("calibration.json was fitted for another model or vocabulary than this checkpoint's",
                         source=str(path), hint=hint)
    th = doc.get("thresholds", {})
    ok = isinstance(th.get("plain"), (int, float)) and isinstance(th.get("shown"), (int, float)) \
        and 0 <= th["shown"] <= th["plain"] <= 1 and float(doc.get("temperature", 0)) > 0
    if not ok:
        raise ModelError("calibration.json needs a positive temperature and thresholds 0 <= shown <= plain <= 1",
                         source=str(path), hint=hint)
    labels = set(config.get("labels", []))
    for group in doc.get("same_signs", []):
        if not isinstance(group, list) or len(group) < 2 or not set(group) <= labels:
            raise ModelError(f"calibration.json's same-sign group {group!r} is not two or more of the model's "
                             "glosses", source=str(path), hint=hint)
    return doc
