"""A word list as a prior: the classifier's probabilities re-weighted by what the user says is signed.

Renormalising the softmax over the listed glosses alone would throw away the evidence that a span looks
like none of them (a sign outside the list) and makes a one-word list always 100 % sure. Instead the list
is a prior over all glosses: with ``OUT_OF_LIST`` = rho, the listed glosses share 1 - rho and the rest share
rho. The posterior is the classifier's (trained on a flat prior over its classes) times prior / flat prior:

    p'(g) ∝ p(g | x) * (1 - rho) / K      for the K listed glosses
    p'(g) ∝ p(g | x) * rho / (L - K)      for the L - K others

A listed gloss is shown when it is the posterior's top and its posterior clears the cut-off fitted for lists
of about that size (``calibration.json`` ``vocabulary_hints``, :func:`fit`), on held-out clips both with
the true sign in the list and without it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from signbridge.errors import ModelError
from signbridge.recognize.openset import PLAIN_BOUND_Z, PLAIN_PRECISION, lowest_threshold

OUT_OF_LIST = 0.25  # prior share of signs outside the list, and the weight of such clips in the fit
SHOWN_PRECISION_HINTED = 0.80  # the user vouched for the words: hinted words are shown at a higher bar
LIST_SIZES = (1, 2, 3, 5, 10, 20, 50, 100, 200, 300, 500, 1000)


def posterior(probs: np.ndarray, listed: Sequence[int] | np.ndarray, rho: float = OUT_OF_LIST) -> np.ndarray:
    """(N, L) class probabilities -> (N, L) posterior under the list prior (rows sum to 1)."""
    probs = np.asarray(probs, dtype=np.float64)
    n_cls = probs.shape[1]
    mask = np.zeros(n_cls, bool)
    mask[np.asarray(listed, dtype=int)] = True
    k = int(mask.sum())
    if k == 0:
        return probs
    w = np.where(mask, (1 - rho) / k, rho / max(n_cls - k, 1)) if k < n_cls else np.full(n_cls, 1.0 / n_cls)
    out = probs * w
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-30)


def listed_confidence(post: np.ndarray, listed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, top gloss) per row: the top gloss's posterior, or 0 when the top is not listed."""
    top = post.argmax(1) if len(post) else np.zeros(0, int)
    conf = post[np.arange(len(post)), top] if len(post) else np.zeros(0)
    mask = np.zeros(post.shape[1], bool)
    mask[listed] = True
    return np.where(mask[top], conf, 0.0), top


def thresholds_for(calibration: dict[str, Any], k: int, source: str = "calibration.json") -> dict[str, float]:
    """The shown/plain cut-offs for a list of ``k`` glosses: those of the largest fitted size <= k (smaller lists
    need higher cut-offs, so this errs on the side of showing less)."""
    table = (calibration.get("vocabulary_hints") or {}).get("by_size")
    if not table:
        raise ModelError("this checkpoint's calibration.json has no cut-offs for word lists (vocabulary hints)",
                         source=source, hint="fit them with `python -m signbridge.recognize.train_hands "
                                             "calibrate-hints --out CHECKPOINT`, or run without --vocabulary")
    rows = sorted(table, key=lambda r: r["k"])
    row = rows[0]
    for r in rows:
        if r["k"] <= k:
            row = r
    return {"shown": float(row["shown"]), "plain": float(row["plain"])}


def simulate(probs: np.ndarray, y: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator,
             draws: int = 2) -> dict[str, np.ndarray]:
    """Held-out confidences for random lists of ``k`` glosses drawn from ``pool``.

    In-list: each clip whose true gloss (``y``, a representative index; -1 = a sign the model has no class
    for) is in the pool gets lists holding it; out-of-list: every clip gets lists without its gloss.
    """
    pool = np.asarray(pool, dtype=int)
    conf_in, right_in, conf_out = [], [], []
    known = np.isin(y, pool)
    for _ in range(draws):
        for i in range(len(y)):
            others = pool[pool != y[i]]
            if known[i]:
                lst = np.concatenate([[y[i]], rng.choice(others, size=min(k - 1, len(others)), replace=False)])
                c, top = listed_confidence(posterior(probs[i:i + 1], lst), lst)
                conf_in.append(c[0])
                right_in.append(top[0] == y[i])
            lst = rng.choice(others, size=min(k, len(others)), replace=False)
            c, _ = listed_confidence(posterior(probs[i:i + 1], lst), lst)
            conf_out.append(c[0])
    return {"conf_in": np.array(conf_in), "right_in": np.array(right_in, bool), "conf_out": np.array(conf_out)}


def choose(sim: dict[str, np.ndarray]) -> dict[str, float]:
    """Cut-offs for the hinted targets: in-list clips weigh 1 - OUT_OF_LIST, out-of-list ones OUT_OF_LIST."""
    ci, ri, co = sim["conf_in"], sim["right_in"], sim["conf_out"]
    conf = np.concatenate([ci, co])
    correct = np.concatenate([ri, np.zeros(len(co), bool)])
    w = np.concatenate([np.full(len(ci), (1 - OUT_OF_LIST) / max(len(ci), 1)),
                        np.full(len(co), OUT_OF_LIST / max(len(co), 1))]) * len(conf)
    plain = lowest_threshold(conf, correct, w, PLAIN_PRECISION, z=PLAIN_BOUND_Z)
    return {"plain": plain, "shown": min(lowest_threshold(conf, correct, w, SHOWN_PRECISION_HINTED), plain)}


def report(sim: dict[str, np.ndarray], th: dict[str, float]) -> dict[str, Any]:
    ci, ri, co = sim["conf_in"], sim["right_in"], sim["conf_out"]
    s_in, s_out = ci >= th["shown"], co >= th["shown"]
    right = int((s_in & ri).sum())
    a = (s_in & ri).mean() * (1 - OUT_OF_LIST) if len(ci) else 0.0
    b = s_in.mean() * (1 - OUT_OF_LIST) + (s_out.mean() * OUT_OF_LIST if len(co) else 0.0)
    return {"n_in": int(len(ci)), "n_out": int(len(co)), "top1_in_list": float(ri.mean()) if len(ri) else None,
            "shown_in": int(s_in.sum()), "right": right, "recall_in_list": right / len(ci) if len(ci) else None,
            "precision_weighted": float(a / b) if b > 0 else None,
            "precision_in_list_only": right / int(s_in.sum()) if s_in.sum() else None,
            "out_of_list_shown_rate": float(s_out.mean()) if len(co) else None}


def fit(probs: np.ndarray, y: np.ndarray, pool: np.ndarray, sizes: Sequence[int] = LIST_SIZES, seed: int = 0,
        draws: int = 2) -> list[dict[str, Any]]:
    """One row per list size: cut-offs and the held-out numbers at them."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in sizes:
        if k > len(pool):
            break
        sim = simulate(probs, y, pool, k, rng, draws)
        th = choose(sim)
        rows.append({"k": int(k), **th, "held_out": report(sim, th)})
    return rows
