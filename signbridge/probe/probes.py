"""Linear probes per layer: standardised L2 logistic regression over repeated stratified splits.

Each repeat is a full stratified k-fold (grouped when samples are correlated),
so every sample is predicted once per repeat; the accuracy of a repeat is the
fraction of those predictions that are right, and the interval is a t-interval
over repeats. Repeats share data, so the interval shows split-to-split
variation, not what a new signer would bring. Two references sit beside every
layer: the majority class of each training fold, and the same probe trained on
shuffled labels (the control); selectivity is accuracy minus control.
"""
from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from signbridge.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class LayerScore:
    pooling: str
    layer: int
    accuracy: float
    ci_low: float
    ci_high: float
    sd: float
    control: float
    control_ci_low: float
    control_ci_high: float
    selectivity: float
    majority: float
    chance: float
    n_samples: int
    n_classes: int
    repeats: int
    folds: int

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class ProbeResult:
    scores: list[LayerScore]
    predictions: dict[tuple[str, int], np.ndarray]  # out-of-fold predictions of the first repeat
    classes: list[str]

    def best(self, pooling: str | None = None) -> LayerScore:
        pool = [s for s in self.scores if pooling is None or s.pooling == pooling]
        return max(pool, key=lambda s: (s.accuracy, -s.layer))


def make_splits(y: np.ndarray, groups: np.ndarray | None, repeats: int, folds: int, seed: int = 0):
    """``repeats`` lists of (train, test) index pairs; k shrinks to what the smallest class allows."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    counts = Counter(y.tolist())
    if groups is not None:
        per_class_groups = {c: len(set(groups[y == c].tolist())) for c in counts}
        limit = min(per_class_groups.values())
        unit = "groups"
    else:
        limit = min(counts.values())
        unit = "samples"
    k = min(folds, limit)
    if k < 2:
        raise InputError(f"a label has only {limit} {unit}; a held-out split needs at least 2",
                         hint="add data for the rarest label or drop it")
    if k < folds:
        log.warning("using %d folds instead of %d: the rarest label has only %d %s", k, folds, limit, unit)
    out = []
    for r in range(repeats):
        if groups is not None:
            cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed + r)
            it = cv.split(np.zeros(len(y)), y, groups)
        else:
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed + r)
            it = cv.split(np.zeros(len(y)), y)
        out.append([(tr, te) for tr, te in it])
    return out


def _fit_predict(x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, C: float, max_iter: int) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(set(y[tr].tolist())) < 2:
        return np.full(len(te), y[tr][0])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, l1_ratio=0.0, max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x[tr], y[tr])
    return clf.predict(x[te])


def _interval(values: Sequence[float]) -> tuple[float, float, float, float]:
    from scipy import stats

    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if len(v) < 2:
        return m, m, m, 0.0
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(v) - 1) * sd / np.sqrt(len(v)))
    return m, max(0.0, m - half), min(1.0, m + half), sd


def probe_layer(x: np.ndarray, y: np.ndarray, splits, controls: list[np.ndarray], C: float = 1.0,
                max_iter: int = 1000) -> dict:
    """Accuracy/control/majority over ``splits`` for one layer's (samples, hidden) matrix.

    BLAS is held to one thread: these fits are small, and on a busy machine
    OpenBLAS threads spinning for cores made each fit ~70x slower (measured);
    parallelism comes from ``jobs`` (one process per layer) instead.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _probe_layer(x, y, splits, controls, C, max_iter)


def _probe_layer(x, y, splits, controls, C, max_iter) -> dict:
    x = np.asarray(x, dtype=np.float32)
    accs, ctrl, major, acc_units, ctrl_units = [], [], [], [], []
    first_pred = None
    for r, folds in enumerate(splits):
        pred = np.empty(len(y), dtype=y.dtype)
        cpred = np.empty(len(y), dtype=y.dtype)
        hits_major = 0
        yc = controls[r]
        for tr, te in folds:
            pred[te] = _fit_predict(x, y, tr, te, C, max_iter)
            cpred[te] = _fit_predict(x, yc, tr, te, C, max_iter)
            top = Counter(y[tr].tolist()).most_common(1)[0][0]
            hits_major += int((y[te] == top).sum())
            acc_units.append(float((pred[te] == y[te]).mean()))
            ctrl_units.append(float((cpred[te] == yc[te]).mean()))
        accs.append(float((pred == y).mean()))
        ctrl.append(float((cpred == yc).mean()))
        major.append(hits_major / len(y))
        if first_pred is None:
            first_pred = pred
    # one repeat: the interval comes from its folds instead
    a = _interval(accs if len(accs) > 1 else acc_units)
    c = _interval(ctrl if len(ctrl) > 1 else ctrl_units)
    return {"acc": a, "ctrl": c, "majority": float(np.mean(major)), "pred": first_pred}


def probe_all(x_by_pooling: dict[str, np.ndarray], layers: Sequence[int], labels: np.ndarray,
              groups: np.ndarray | None = None, *, repeats: int = 5, folds: int = 5, C: float = 1.0,
              seed: int = 0, jobs: int = 1, max_iter: int = 1000) -> ProbeResult:
    """Probe every (pooling, layer); ``x_by_pooling[p]`` is (layers, samples, hidden)."""
    from joblib import Parallel, delayed

    y = np.asarray(labels).astype(str)
    if repeats < 1 or folds < 2:
        raise InputError(f"repeats={repeats}, folds={folds}: need repeats >= 1 and folds >= 2")
    splits = make_splits(y, groups, repeats, folds, seed)
    rng = np.random.default_rng(seed + 10_007)
    controls = [rng.permutation(y) for _ in range(repeats)]
    tasks = [(p, i) for p in x_by_pooling for i in range(len(layers))]
    outs = Parallel(n_jobs=jobs)(
        delayed(probe_layer)(x_by_pooling[p][i], y, splits, controls, C, max_iter) for p, i in tasks)
    classes = sorted(set(y.tolist()))
    chance = 1.0 / len(classes)
    scores, preds = [], {}
    k = len(splits[0])
    for (p, i), o in zip(tasks, outs):
        acc, ctrl = o["acc"], o["ctrl"]
        scores.append(LayerScore(
            pooling=p, layer=int(layers[i]), accuracy=acc[0], ci_low=acc[1], ci_high=acc[2], sd=acc[3],
            control=ctrl[0], control_ci_low=ctrl[1], control_ci_high=ctrl[2], selectivity=acc[0] - ctrl[0],
            majority=o["majority"], chance=chance, n_samples=len(y), n_classes=len(classes),
            repeats=repeats, folds=k))
        preds[(p, int(layers[i]))] = o["pred"]
    return ProbeResult(scores, preds, classes)
