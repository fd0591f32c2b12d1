"""Calibration and evaluation of a hands checkpoint on the packed WLASL-2000 hands data.

Class ranges (WLASL class index) for a checkpoint with vocabulary N and trained negatives [N, M):

    [0, N)            vocabulary: train split trains, val split calibrates, test split evaluates
    [N, M)            known unknowns used in training (never evaluated)
    [M, (M+2000)/2)   unknowns for calibration (all splits; never trained on)
    [(M+2000)/2, 2000) unknowns for evaluation (all splits; never trained on, never calibrated on)

A checkpoint of all 2,000 glosses has no unknowns left: it is calibrated on val alone and its
open-set numbers are not measurable here (said so in the output).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.recognize import openset, same_signs


def class_ranges(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    n = len(config["labels"])
    m = int(config.get("train", {}).get("negatives", [n, n])[1])
    mid = (m + 2000) // 2
    return {"vocab": (0, n), "trained_unknown": (n, m), "calib_unknown": (m, mid), "eval_unknown": (mid, 2000)}


def checkpoint_logits(ckpt: str | Path, hands: np.ndarray) -> np.ndarray:
    """Logits of the checkpoint's TorchScript model on packed clips, one CPU thread (as inference runs).

    The packed clips have no face: a version "2" model sees its location channel from the framing guess."""
    import torch

    from signbridge.recognize.hands import HandFeatureConfig

    cfg = json.loads((Path(ckpt) / "config.json").read_text())
    fc = HandFeatureConfig.from_dict(cfg["features"])
    model = torch.jit.load(str(Path(ckpt) / "model.ts"), map_location="cpu").eval()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = []
    try:
        with torch.inference_mode():
            for i in range(0, len(hands), 512):
                out.append(model(torch.as_tensor(fc.features(hands[i:i + 512].astype(np.float32))))[0].numpy())
    finally:
        torch.set_num_threads(before)
    n_out = len(cfg["labels"])
    return np.concatenate(out) if out else np.zeros((0, n_out), np.float32)


def _sel(data: dict[str, np.ndarray], rng: tuple[int, int], splits: tuple[str, ...]) -> np.ndarray:
    cls = data["cls"].astype(int)
    return np.flatnonzero((cls >= rng[0]) & (cls < rng[1]) & np.isin(data["split"], splits))


def _heldout_logits(ckpt: str | Path, data: dict[str, np.ndarray], shown: int):
    """Class ranges, clip indices and logits of the calibration and evaluation sets."""
    cfg = json.loads((Path(ckpt) / "config.json").read_text())
    r = class_ranges(cfg)
    n = r["vocab"][1]
    every = ("train", "val", "test")
    idx = {"cal_in": _sel(data, (0, shown), ("val",)), "cal_known": _sel(data, (shown, n), ("val",)),
           "cal_unseen": _sel(data, r["calib_unknown"], every), "test_in": _sel(data, (0, shown), ("test",)),
           "test_known": _sel(data, (shown, n), ("test",)), "test_unseen": _sel(data, r["eval_unknown"], every)}
    return r, idx, {k: checkpoint_logits(ckpt, data["hands"][v]) for k, v in idx.items()}


def _confidences(logits: dict[str, np.ndarray], idx, y, shown: int, t: float, rep: np.ndarray,
                 credit: bool = True):
    """Per clip set: confidence of the shown word, whether it is right, and whether the clip's sign is one
    the shown vocabulary has a word for. ``rep`` maps each of the 2,000 WLASL glosses to the gloss that stands
    for its same-sign group; probabilities are always pooled by it. With ``credit`` a clip of MOM read as
    MOTHER is right, and a clip of an unseen gloss that is the same sign as a shown one is in the vocabulary.
    Calibration gives no such credit: the groups were drawn from the calibration clips' confusions, so
    crediting them there would fit thresholds to the very errors that made the groups (too low on new data)."""
    conf, right, inv = {}, {}, {}
    for k, lg in logits.items():
        p = same_signs.pool(openset.softmax(lg, t), rep[:lg.shape[1]]) if len(lg) else np.zeros((0, 1))
        conf[k], pred = openset.shown_confidence(p, shown) if len(lg) else (np.zeros(0), np.zeros(0, int))
        truth = rep[y[idx[k]]] if credit else y[idx[k]]
        right[k], inv[k] = pred == truth, truth < shown
    return conf, right, inv


def _split(conf, right, inv, names: tuple[str, ...]):
    """(confidence in, right in, confidence out) over the named clip sets, split by vocabulary membership."""
    c, r, m = (np.concatenate([d[k] for k in names]) for d in (conf, right, inv))
    return c[m], r[m], c[~m]


def _groups_and_rep(data: dict[str, np.ndarray], labels: list[str]) -> tuple[list[list[str]], np.ndarray]:
    from signbridge.recognize.wlasl_hands import gloss_names

    names = gloss_names(data)
    return same_signs.groups_for(labels), same_signs.representatives(names, same_signs.groups_for(names))


CAL_SETS = ("cal_in", "cal_known", "cal_unseen")
OOD_SETS = ("ood_in", "ood_known", "ood_unseen")  # a fold model's clips of the signers it never saw
TEST_SETS = ("test_in", "test_known", "test_unseen")


def calibrate_checkpoint(ckpt: str | Path, data: dict[str, np.ndarray], shown: int = 300,
                         fold_models: list[str] | None = None) -> dict[str, Any]:
    """Fit temperature + thresholds, write calibration.json with the test report.

    Words are shown for the first ``shown`` classes only; a clip whose top class is another trained gloss
    counts as unknown. So out-of-vocabulary clips are both trained glosses outside the shown vocabulary
    (val clips for calibration, test clips for evaluation) and glosses the model never saw. The thresholds
    are fitted on the val split (signers the model saw) and, with ``fold_models``, also on signers each fold
    model never saw (:func:`fold_thresholds`); then each is the higher of the two.
    """
    y = data["cls"].astype(int)
    r, idx, logits = _heldout_logits(ckpt, data, shown)
    shown = min(shown, r["vocab"][1])
    labels = json.loads((Path(ckpt) / "config.json").read_text())["labels"]
    groups, rep = _groups_and_rep(data, labels)
    t = _val_temperature(logits, idx, y)
    thresholds = openset.choose(*_split(*_confidences(logits, idx, y, shown, t, rep, credit=False), CAL_SETS))
    fitted_on = {"in_vocabulary": f"NSLT-2000 val clips of classes [0, {shown}): {len(idx['cal_in'])}",
                 "out_of_vocabulary": f"val clips of trained classes [{shown}, {r['vocab'][1]}): "
                                      f"{len(idx['cal_known'])}; all clips of unseen classes "
                                      f"{list(r['calib_unknown'])}: {len(idx['cal_unseen'])}"}
    extra: dict[str, Any] = {}
    if fold_models:  # a word must meet the target for seen and for unseen signers: the higher cut-off wins
        fold_th, extra["signer_disjoint"], fold_fitted = fold_thresholds(fold_models, data, shown, rep)
        extra["signer_disjoint"].update(seen_signer_thresholds=thresholds, unseen_signer_thresholds=fold_th)
        thresholds = {k: max(thresholds[k], fold_th[k]) for k in thresholds}
        fitted_on = {"seen_signers": fitted_on, "unseen_signers": fold_fitted,
                     "rule": "each threshold is the higher of the two fits"}
    conf, right, inv = _confidences(logits, idx, y, shown, t, rep)
    cal = {"temperature": t, "shown_classes": shown, "thresholds": thresholds, "same_signs": groups,
           "fitted_on": fitted_on, "held_out": _report(r, idx, logits, (conf, right, inv), t, thresholds, data, shown),
           **extra}
    openset.write_calibration(ckpt, cal)
    return cal


def _val_temperature(logits, idx, y) -> float:
    val = np.concatenate([logits["cal_in"], logits["cal_known"]])
    return openset.fit_temperature(val, np.concatenate([y[idx["cal_in"]], y[idx["cal_known"]]]))


def _fold_sets(data: dict[str, np.ndarray], cfg: dict[str, Any], shown: int) -> dict[str, np.ndarray]:
    """Clip sets of one fold model (fold i of k): its seen-signer val clips fit its temperature (as the
    shipped model's val clips fit its own); the held-out signers' train and val clips (none trained on) and
    glosses it never saw calibrate; the held-out signers' test clips evaluate."""
    from signbridge.recognize.signer_folds import fold_of

    i, k = cfg["train"]["signer_fold"]
    r = class_ranges(cfg)
    n = r["vocab"][1]
    cls, split = data["cls"].astype(int), data["split"]
    out_fold = fold_of(data["signer"], k) == i
    vocab, known = cls < shown, (cls >= shown) & (cls < n)
    tv = np.isin(split, ("train", "val"))
    unseen = lambda rng: (cls >= rng[0]) & (cls < rng[1])  # noqa: E731
    return {k_: np.flatnonzero(m) for k_, m in {
        "cal_in": vocab & (split == "val") & ~out_fold, "cal_known": known & (split == "val") & ~out_fold,
        "ood_in": vocab & tv & out_fold, "ood_known": known & ((split == "val") | (tv & out_fold)),
        "ood_unseen": unseen(r["calib_unknown"]),
        "test_in": vocab & (split == "test") & out_fold, "test_known": known & (split == "test"),
        "test_unseen": unseen(r["eval_unknown"])}.items()}


def fold_thresholds(fold_models: list[str], data: dict[str, np.ndarray], shown: int, rep: np.ndarray):
    """Thresholds fitted on signers no model saw: each fold model's confidences (at its own val-fitted
    temperature) on its held-out signers' clips and on unseen glosses, pooled over the folds. Returns
    (thresholds, report, fitted_on); the report has the fold models' numbers on their held-out signers'
    *test* clips, which nothing was fitted on."""
    from signbridge.errors import ModelError

    y = data["cls"].astype(int)
    cal, test = [], []  # per fold: (confidence in, right in, confidence out)
    folds, n_sets = [], {}
    for ckpt in fold_models:
        cfg = json.loads((Path(ckpt) / "config.json").read_text())
        if not cfg.get("train", {}).get("signer_fold"):
            raise ModelError("not a fold model (its config.json has no train.signer_fold)", source=str(ckpt),
                             hint="train one with `train_hands train --signer-fold i/k`")
        idx = _fold_sets(data, cfg, shown)
        logits = {k: checkpoint_logits(ckpt, data["hands"][v]) for k, v in idx.items()}
        t = _val_temperature(logits, idx, y)
        cal.append(_split(*_confidences({k: logits[k] for k in OOD_SETS}, idx, y, shown, t, rep, credit=False),
                          OOD_SETS))
        c_test = _confidences({k: logits[k] for k in TEST_SETS}, idx, y, shown, t, rep)
        # a trained-but-not-shown gloss credited to a shown word (same sign) is in-vocabulary, but its clips
        # are not the held-out signers' (their signer is mostly unknown): out of the unseen-signer test
        keep = ~c_test[2]["test_known"]
        for d in c_test:
            d["test_known"] = d["test_known"][keep]
        test.append(_split(*c_test, TEST_SETS))
        folds.append({"checkpoint": str(ckpt), "signer_fold": cfg["train"]["signer_fold"], "temperature": t,
                      "steps": (cfg["train"].get("history") or [{}])[-1].get("step")})
        for k, v in idx.items():
            n_sets[k] = n_sets.get(k, 0) + int(len(v))
    if sorted(tuple(f["signer_fold"]) for f in folds) != [(i, len(folds)) for i in range(len(folds))]:
        raise ModelError(f"fold models must be folds 0..k-1 of one k, got {[f['signer_fold'] for f in folds]}",
                         source=", ".join(fold_models), hint="pass one checkpoint per fold")
    pooled = lambda parts: tuple(np.concatenate(a) for a in zip(*parts))  # noqa: E731 - over the folds
    thresholds = openset.choose(*pooled(cal))
    c_in, r_in, c_out = pooled(test)
    report = {"folds": folds, "sets": n_sets,
              "unseen_signer_test": openset.evaluate(c_in, r_in, c_out, thresholds),
              "unseen_signer_reliability": openset.reliability(c_in, r_in)}
    fitted_on = {"in_vocabulary": f"train+val clips of classes [0, {shown}) by the signers each fold model never "
                                  f"saw ({len(folds)} signer-disjoint folds): {n_sets['ood_in']}",
                 "out_of_vocabulary": f"clips of trained classes outside the shown vocabulary that each fold model "
                                      f"never trained on: {n_sets['ood_known']}; all clips of unseen classes, "
                                      f"once per fold model: {n_sets['ood_unseen']}"}
    return thresholds, report, fitted_on


def heldout_report(ckpt: str | Path, data: dict[str, np.ndarray], shown: int, temperature: float,
                   thresholds: dict[str, float]) -> dict[str, Any]:
    """The test-split numbers of a calibrated checkpoint at its shipped temperature and thresholds."""
    y = data["cls"].astype(int)
    r, idx, logits = _heldout_logits(ckpt, data, shown)
    _, rep = _groups_and_rep(data, json.loads((Path(ckpt) / "config.json").read_text())["labels"])
    conf, right, inv = _confidences(logits, idx, y, shown, temperature, rep)
    return _report(r, idx, logits, (conf, right, inv), temperature, thresholds, data, shown)


def _report(r, idx, logits, decided, t, thresholds, data, shown) -> dict[str, Any]:
    conf, right, inv = decided
    c_in, r_in, c_out = _split(conf, right, inv, TEST_SETS)
    unseen_out = conf["test_unseen"][~inv["test_unseen"]]
    held = openset.evaluate(c_in, r_in, c_out, thresholds, unseen_out)
    held["auroc_unseen_glosses"] = openset.auroc(c_in, unseen_out)
    lg_unseen = logits["test_unseen"][~inv["test_unseen"]]
    held["auroc_energy_unseen_glosses"] = openset.auroc(openset.energy(logits["test_in"][inv["test_in"]], t),
                                                        openset.energy(lg_unseen, t))
    held["reliability"] = openset.reliability(c_in, r_in)
    held["class_ranges"] = {k: list(v) for k, v in r.items()}
    held["sets"] = {k: int(len(v)) for k, v in idx.items()}
    held["sets_in_vocabulary"] = {k: int(v.sum()) for k, v in inv.items()}  # same-sign groups counted
    held["signer_overlap"] = signer_overlap(data, (0, shown))
    return held


def signer_overlap(data: dict[str, np.ndarray], vocab: tuple[int, int]) -> dict[str, Any]:
    """How many test clips have a known signer who also signs in training (WLASL splits are not by signer)."""
    s, sig, cls = data["split"], data["signer"], data["cls"].astype(int)
    inv = (cls >= vocab[0]) & (cls < vocab[1])
    train = set(sig[inv & (s == "train") & (sig >= 0)].tolist())
    test = inv & (s == "test")
    known = test & (sig >= 0)
    return {"test_clips": int(test.sum()), "test_clips_known_signer": int(known.sum()),
            "test_clips_signer_in_train": int(np.isin(sig[known], list(train)).sum()),
            "signers_known_train": len(train), "signers_known_test": len(set(sig[known].tolist()))}


def wlasl_table(ckpt: str | Path, data: dict[str, np.ndarray], sizes=(100, 300, 1000, 2000)) -> list[dict[str, Any]]:
    """Top-1/top-5 on the NSLT-2000 test split of WLASL-N (logits restricted to the first N classes)."""
    cfg = json.loads((Path(ckpt) / "config.json").read_text())
    n_vocab = len(cfg["labels"])
    cls = data["cls"].astype(int)
    test = np.flatnonzero((data["split"] == "test") & (cls < n_vocab))
    logits = checkpoint_logits(ckpt, data["hands"][test])
    y = cls[test]
    rows = []
    for n in sizes:
        if n > n_vocab:
            continue
        m = y < n
        top = np.argsort(-logits[m][:, :n], axis=1)[:, :5]
        rows.append({"subset": f"WLASL-{n}", "n_test": int(m.sum()), "top1": float(np.mean(top[:, 0] == y[m])),
                     "top5": float(np.mean((top == y[m][:, None]).any(1)))})
    return rows


def _hint_clips(data: dict[str, np.ndarray], n: int, sets: dict[str, np.ndarray], logits: dict[str, np.ndarray],
                t: float, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pooled probabilities, true representative or -1) of the named clip sets."""
    y = data["cls"].astype(int)
    idx = np.concatenate(list(sets.values()))
    lg = np.concatenate([logits[k] for k in sets])
    p = same_signs.pool(openset.softmax(lg, t), rep[:n]) if len(lg) else np.zeros((0, n))
    truth = np.where(y[idx] < n, rep[np.minimum(y[idx], len(rep) - 1)], -1)
    return p, truth


def calibrate_hints(ckpt: str | Path, data: dict[str, np.ndarray], fold_models: list[str] | None = None,
                    sizes=None, draws: int = 2) -> dict[str, Any]:
    """Cut-offs for word lists (:mod:`listprior`) by list size, added to the checkpoint's calibration.json.

    Lists are drawn at random from the model's trained glosses, with each held-out clip's true sign in the list
    and without it. Seen signers: the model's val clips of every trained gloss, and all clips of glosses it
    never trained on. With ``fold_models``, also each fold model's clips of the signers it never saw (and the
    unseen glosses); each cut-off is the higher of the two fits, as for the plain thresholds. The report is on
    the test split (seen signers) and the fold models' held-out signers' test clips.
    """
    from signbridge.recognize import listprior
    from signbridge.recognize.checkpoint import read_config

    ckpt = Path(ckpt)
    cfg = read_config(ckpt)
    cal = openset.read_calibration(ckpt, cfg)
    labels = cfg["labels"]
    n = len(labels)
    r = class_ranges(cfg)
    _, rep = _groups_and_rep(data, labels)
    pool = np.unique(rep[:n])
    sizes = tuple(sizes or listprior.LIST_SIZES)
    every = ("train", "val", "test")
    sets = {"cal": _sel(data, (0, n), ("val",)), "cal_unseen": _sel(data, r["calib_unknown"], every),
            "test": _sel(data, (0, n), ("test",)), "test_unseen": _sel(data, r["eval_unknown"], every)}
    lg = {k: checkpoint_logits(ckpt, data["hands"][v]) for k, v in sets.items()}
    t = float(cal["temperature"])
    seen = listprior.fit(*_hint_clips(data, n, {k: sets[k] for k in ("cal", "cal_unseen")}, lg, t, rep), pool,
                         sizes, seed=0, draws=draws)
    test_p, test_y = _hint_clips(data, n, {k: sets[k] for k in ("test", "test_unseen")}, lg, t, rep)
    rows = []
    unseen_rows: list[dict[str, Any]] = []
    fold_tests = []
    if fold_models:
        fold_cal = []
        for fm in fold_models:
            fcfg = json.loads((Path(fm) / "config.json").read_text())
            idx = _fold_sets(data, fcfg, n)  # every trained gloss counts as "in vocabulary" here
            flg = {k: checkpoint_logits(fm, data["hands"][v]) for k, v in idx.items()}
            ft = _val_temperature(flg, idx, data["cls"].astype(int))
            fold_cal.append(_hint_clips(data, n, {k: idx[k] for k in ("ood_in", "ood_unseen")}, flg, ft, rep))
            fold_tests.append(_hint_clips(data, n, {k: idx[k] for k in ("test_in", "test_unseen")}, flg, ft, rep))
        fp = np.concatenate([a for a, _ in fold_cal])
        fy = np.concatenate([b for _, b in fold_cal])
        unseen_rows = listprior.fit(fp, fy, pool, sizes, seed=1, draws=draws)
    rng = np.random.default_rng(2)
    by_unseen = {u["k"]: u for u in unseen_rows}
    for s in seen:
        u = by_unseen.get(s["k"])
        th = {"shown": max(s["shown"], u["shown"]) if u else s["shown"],
              "plain": max(s["plain"], u["plain"]) if u else s["plain"]}
        row = {"k": s["k"], **th, "seen_signer_fit": {k: s[k] for k in ("shown", "plain")},
               "test_seen_signers": listprior.report(listprior.simulate(test_p, test_y, pool, s["k"], rng, draws), th)}
        if u:
            row["unseen_signer_fit"] = {k: u[k] for k in ("shown", "plain")}
            tp = np.concatenate([a for a, _ in fold_tests])
            ty = np.concatenate([b for _, b in fold_tests])
            row["test_unseen_signers"] = listprior.report(listprior.simulate(tp, ty, pool, s["k"], rng, draws), th)
        rows.append(row)
    doc = {"method": "list prior (listprior.posterior): listed glosses share 1 - rho of the prior, rho = "
                     f"{listprior.OUT_OF_LIST}; cut-offs for shown precision {listprior.SHOWN_PRECISION_HINTED} "
                     f"and plain precision {openset.PLAIN_PRECISION} (95 % lower bound), clips with the true sign "
                     f"out of the list weighted {listprior.OUT_OF_LIST}",
           "out_of_list_prior": listprior.OUT_OF_LIST, "draws_per_clip": draws,
           "fitted_on": {"seen_signers": f"val clips of the {n} trained glosses: {len(sets['cal'])}; all clips of "
                                         f"glosses never trained on {list(r['calib_unknown'])}: "
                                         f"{len(sets['cal_unseen'])}",
                         "unseen_signers": (f"{len(fold_models)} signer-disjoint fold models' clips of the signers "
                                            "each never saw, and the unseen glosses" if fold_models else None),
                         "rule": "each cut-off is the higher of the two fits" if fold_models else "seen signers only"},
           "by_size": rows}
    path = ckpt / openset.CALIBRATION_FILE  # added to the fitted file as it is: thresholds and groups unchanged
    full = json.loads(path.read_text())
    full["vocabulary_hints"] = doc
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(full, indent=1) + "\n")
    tmp.replace(path)
    return doc
