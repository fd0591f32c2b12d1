"""Issue #23, item 3: does a location channel (hand feature version 2) help on signers a model never saw?

    .venv/bin/python benchmarks/bench_location_channel.py [--base .signbridge/folds-b] [--loc .signbridge/folds-loc]

Compares two sets of three signer-disjoint fold models of one recipe, seed and schedule, trained together on one
GPU: ``--base`` with the shipped model's features (version 1), ``--loc`` with version 2 (the same plus each wrist
relative to the nose, in 4-palm units; training has no face, so there the nose is WLASL's framing guess). A fold
model without a calibration.json is calibrated first (``train_hands calibrate``: its seen-signer val clips). Parts:

  signers   each fold model on the packed clips of the signers it never saw (every split: none was trained on),
            pooled over the folds: top-1/top-5 over the 1,750 trained glosses and over WLASL-300; the paired
            difference with a 95 % interval from resampling signers (clips of one signer are not independent)
            and McNemar's exact test; shown words fitted and tested as ``calibrate --fold-models`` does
            (:func:`wlasl_eval.fold_thresholds`); the location-contrast glosses (MOTHER / FATHER / FINE, the
            female-chin / male-forehead pairs, DRY / SUMMER / UGLY, ONION / APPLE, ORANGE / MILK)
  clips     the wlasl_clips videos through our Holistic extractor (cached in --extracted, one worker): top-1/top-5
            of the best span for each fold model, version 2 with Holistic's nose and with the framing guess only

Prints a table and writes benchmarks/results/location_channel.json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
SHOWN = 300
# glosses told apart mainly by where they are made (same hand shape and movement); the first is the chin /
# cheek / lower one where the pair is a female / male one
LOCATION_GROUPS = [("mother", "father", "fine"), ("grandmother", "grandfather"), ("girl", "boy"),
                   ("sister", "brother"), ("daughter", "son"), ("niece", "nephew"), ("aunt", "uncle"),
                   ("woman", "man"), ("wife", "husband"), ("dry", "summer", "ugly"), ("onion", "apple"),
                   ("orange", "milk")]


def folds(folder: Path) -> list[Path]:
    out = [folder / f"fold{i}" for i in range(3)]
    missing = [str(p) for p in out if not (p / "model.ts").is_file()]
    if missing:
        raise SystemExit(f"fold models missing: {', '.join(missing)} (train them with the model card's fold "
                         "command; --features 2 for the location ones)")
    return out


def ensure_calibrated(ckpts: list[Path], data) -> None:
    from signbridge.recognize.wlasl_eval import calibrate_checkpoint

    for c in ckpts:
        if not (c / "calibration.json").is_file():
            calibrate_checkpoint(c, data, SHOWN)


def heldout_logits(ckpts: list[Path], data, seen: bool = False) -> dict[str, np.ndarray]:
    """Per held-out clip (pooled over the folds): index, fold, logits of the model that never saw its signer.
    With ``seen``: the val and test clips of the other signers (or none known), which no model trained on."""
    from signbridge.recognize.signer_folds import fold_of
    from signbridge.recognize.wlasl_eval import checkpoint_logits

    cls = data["cls"].astype(int)
    idx, fold, logits = [], [], []
    for c in ckpts:
        cfg = json.loads((c / "config.json").read_text())
        i, k = cfg["train"]["signer_fold"]
        out = fold_of(data["signer"], k) == i
        keep = (~out & np.isin(data["split"], ("val", "test"))) if seen else out
        sel = np.flatnonzero(keep & (cls < len(cfg["labels"])))
        idx.append(sel)
        fold.append(np.full(len(sel), i))
        logits.append(checkpoint_logits(c, data["hands"][sel]))
    return {"idx": np.concatenate(idx), "fold": np.concatenate(fold), "logits": np.concatenate(logits)}


def topk_hits(logits: np.ndarray, y: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    top = np.argsort(-logits, axis=1)[:, :k]
    return top[:, 0] == y, (top == y[:, None]).any(1)


def mcnemar_p(base: np.ndarray, new: np.ndarray) -> float:
    """Exact two-sided McNemar p-value of paired right/wrong outcomes."""
    b, c = int((base & ~new).sum()), int((~base & new).sum())
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, j) for j in range(min(b, c) + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def signer_bootstrap(base: np.ndarray, new: np.ndarray, signers: np.ndarray, reps: int = 2000, seed: int = 0):
    """95 % interval of mean(new) - mean(base), resampling signers (with all their clips) with replacement."""
    rng = np.random.default_rng(seed)
    ids = np.unique(signers)
    per = {s: np.flatnonzero(signers == s) for s in ids}
    d = new.astype(float) - base.astype(float)
    sums = np.array([d[per[s]].sum() for s in ids])
    counts = np.array([len(per[s]) for s in ids])
    draws = rng.integers(0, len(ids), (reps, len(ids)))
    diffs = sums[draws].sum(1) / counts[draws].sum(1)
    return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def compare(name: str, base: np.ndarray, new: np.ndarray, signers: np.ndarray,
            fold: np.ndarray | None = None) -> dict:
    out = {"measure": name, "n": int(len(base)), "base": float(base.mean()), "loc": float(new.mean()),
           "diff": float(new.mean() - base.mean()), "ci95_signer_bootstrap": signer_bootstrap(base, new, signers),
           "base_only_right": int((base & ~new).sum()), "loc_only_right": int((~base & new).sum()),
           "mcnemar_p": mcnemar_p(base, new), "signers": int(len(np.unique(signers)))}
    if fold is not None:  # one training run per fold and variant: does each fold agree?
        out["diff_per_fold"] = [float(new[fold == f].mean() - base[fold == f].mean()) for f in np.unique(fold)]
    return out


def location_groups(labels: list[str], y: np.ndarray, preds: dict[str, np.ndarray]) -> list[dict]:
    """Per group: clips, right, and clips read as another gloss of the group, for each model set."""
    pos = {g: i for i, g in enumerate(labels)}
    rows = []
    for grp in LOCATION_GROUPS:
        ids = [pos[g] for g in grp if g in pos]
        if len(ids) < 2:
            continue
        m = np.isin(y, ids)
        row = {"glosses": [labels[i] for i in ids], "clips": int(m.sum())}
        for k, p in preds.items():
            row[f"{k}_right"] = int((p[m] == y[m]).sum())
            row[f"{k}_within_group_errors"] = int((np.isin(p[m], ids) & (p[m] != y[m])).sum())
        if row["clips"]:
            rows.append(row)
    rows.append({"glosses": ["all groups"], **{k: sum(r[k] for r in rows) for k in rows[0] if k != "glosses"}})
    return rows


def part_signers(args, data, base: list[Path], loc: list[Path], out: dict) -> list[tuple[str, str, str]]:
    from signbridge.recognize.wlasl_eval import _groups_and_rep, fold_thresholds

    b, lo = heldout_logits(base, data), heldout_logits(loc, data)
    assert np.array_equal(b["idx"], lo["idx"])  # the same clips: folds are a function of the signer id
    y = data["cls"].astype(int)[b["idx"]]
    signers = data["signer"][b["idx"]]
    labels = json.loads((base[0] / "config.json").read_text())["labels"]
    res: dict = {"clips": int(len(y)), "signers": int(len(np.unique(signers))), "comparisons": []}
    in300 = y < SHOWN
    for scope, m, lg in (("1750", np.ones(len(y), bool), slice(None)), ("WLASL-300", in300, slice(0, SHOWN))):
        b1, b5 = topk_hits(b["logits"][m][:, lg], y[m])
        l1, l5 = topk_hits(lo["logits"][m][:, lg], y[m])
        res["comparisons"].append(compare(f"top-1, {scope}", b1, l1, signers[m], b["fold"][m]))
        res["comparisons"].append(compare(f"top-5, {scope}", b5, l5, signers[m], b["fold"][m]))
    test = data["split"][b["idx"]] == "test"
    b1, _ = topk_hits(b["logits"][test & in300][:, :SHOWN], y[test & in300])
    l1, _ = topk_hits(lo["logits"][test & in300][:, :SHOWN], y[test & in300])
    res["comparisons"].append(compare("top-1, WLASL-300, test split only", b1, l1, signers[test & in300],
                                      b["fold"][test & in300]))
    bs, ls = heldout_logits(base, data, seen=True), heldout_logits(loc, data, seen=True)
    ys = data["cls"].astype(int)[bs["idx"]]
    res["seen_signers"] = []
    for scope, m, lg in (("1750", np.ones(len(ys), bool), slice(None)), ("WLASL-300", ys < SHOWN, slice(0, SHOWN))):
        b1, _ = topk_hits(bs["logits"][m][:, lg], ys[m])
        l1, _ = topk_hits(ls["logits"][m][:, lg], ys[m])
        # signer mostly unknown here: each clip is its own cluster
        res["seen_signers"].append(compare(f"top-1, {scope}, val + test clips of signers the model saw or unknown",
                                           b1, l1, np.arange(len(b1)), bs["fold"][m]))
    preds = {"base": b["logits"].argmax(1), "loc": lo["logits"].argmax(1)}
    res["location_groups"] = location_groups(labels, y, preds)
    _, rep = _groups_and_rep(data, labels)
    res["shown_words"] = {}
    for key, ckpts in (("base", base), ("loc", loc)):
        th, rep_, _ = fold_thresholds([str(c) for c in ckpts], data, SHOWN, rep)
        res["shown_words"][key] = {"thresholds": th, "unseen_signer_test": rep_["unseen_signer_test"],
                                   "folds": rep_["folds"]}
    out["signers"] = res
    f = lambda v: f"{100 * v:.1f} %"  # noqa: E731
    lines = [(f"held-out signers: {res['clips']} clips of {res['signers']} signers (3 folds)", "base -> loc", "")]
    for c in res["comparisons"]:
        lo_, hi_ = c["ci95_signer_bootstrap"]
        per = ", ".join(f"{100 * d:+.1f}" for d in c["diff_per_fold"])
        lines.append((f"  {c['measure']} ({c['n']} clips)", f"{f(c['base'])} -> {f(c['loc'])}",
                      f"{100 * c['diff']:+.1f} pts [{100 * lo_:+.1f}, {100 * hi_:+.1f}], McNemar p "
                      f"{c['mcnemar_p']:.3f}; folds {per}"))
    for c in res["seen_signers"]:
        per = ", ".join(f"{100 * d:+.1f}" for d in c["diff_per_fold"])
        lines.append((f"  {c['measure']} ({c['n']} clips)", f"{f(c['base'])} -> {f(c['loc'])}",
                      f"{100 * c['diff']:+.1f} pts, McNemar p {c['mcnemar_p']:.3f}; folds {per}"))
    for key in ("base", "loc"):
        u = res["shown_words"][key]["unseen_signer_test"]
        s = u["shown"]
        lines.append((f"  shown words, {key} (fitted on held-out train+val, tested on held-out test)",
                      f"shown {s['threshold']:.3f}: precision {s['precision_half_oov'] or 0:.3f}, recall "
                      f"{s['recall']:.3f}", f"AUROC {u['auroc']:.3f}, top-1 {u['top1']:.3f}"))
    for r in res["location_groups"]:
        lines.append((f"  {'/'.join(r['glosses'])} ({r['clips']} clips): right, within-group errors",
                      f"{r['base_right']}, {r['base_within_group_errors']} -> {r['loc_right']}, "
                      f"{r['loc_within_group_errors']}", ""))
    return lines


def guess_only(ckpt: Path):
    """A version-2 recogniser that ignores Holistic's nose (the framing guess, as in training)."""
    from signbridge.recognize.checkpoint import Recognizer
    from signbridge.recognize.hands import sample_hands

    class GuessOnly(Recognizer):
        def features(self, frames, spans_ms, ref=None):
            fc = self.feature_cfg
            return fc.features(sample_hands(frames, spans_ms, fc.n_steps))

    return GuessOnly(ckpt, "cpu")


def clip_results(rec, items, rows, settings) -> list[dict]:
    from signbridge.recognize.infer import recognize_frames
    from signbridge.recognize.same_signs import word_for

    tracks = recognize_frames(items, rec, settings)
    out = []
    for track, r in zip(tracks, rows):
        gloss = word_for(r["gloss"], rec.base_labels)  # MOM is right as MOTHER
        best = max(track.spans, key=lambda s: s.confidence, default=None)
        top5 = [t.label for t in best.top_k][:5] if best else []
        out.append({"file": r["file"], "gloss": gloss, "top1": top5[0] if top5 else None,
                    "top1_hit": bool(top5) and top5[0] == gloss, "top5_hit": gloss in top5})
    return out


def part_clips(args, data, base: list[Path], loc: list[Path], out: dict) -> list[tuple[str, str, str]]:
    import bench_recognize_wlasl as brw

    from signbridge.recognize.checkpoint import Recognizer
    from signbridge.recognize.infer import frames_for_tables
    from signbridge.recognize.same_signs import word_for
    from signbridge.recognize.signer_folds import fold_of

    ns = types.SimpleNamespace(extracted=args.extracted, checkpoint=None)
    settings = brw.load_settings_(ns)
    pairs = brw._clip_tables(ns, settings)
    rows = [r for _, r in pairs]
    items = frames_for_tables([t for t, _ in pairs], [r["file"] for r in rows])
    labels = json.loads((base[0] / "config.json").read_text())["labels"]
    trained = set(labels)
    shown = set(labels[:SHOWN])
    variants = {"base": [Recognizer(c, "cpu") for c in base], "loc": [Recognizer(c, "cpu") for c in loc],
                "loc_guess": [guess_only(c) for c in loc]}
    per = {k: [clip_results(rec, items, rows, settings) for rec in recs] for k, recs in variants.items()}
    signer = np.array([int(float(r["signer_id"])) if r.get("signer_id") else -1 for r in rows])
    fold = fold_of(signer, 3)
    res: dict = {"clips": len(rows), "comparisons": [], "location_group_clips": []}
    gl = [word_for(r["gloss"], labels) for r in rows]
    scopes = {"shown (WLASL-300) glosses": np.array([g in shown for g in gl]),
              "trained glosses": np.array([g in trained for g in gl])}
    for scope, m in scopes.items():
        for hit in ("top1_hit", "top5_hit"):
            # every clip by each of the three fold models (clips x 3); signer unknown -> its own cluster
            base_hits = np.concatenate([[p[hit] for p in per["base"][f]] for f in range(3)])[np.tile(m, 3)]
            clusters = np.tile(np.where(signer >= 0, signer, -1 - np.arange(len(rows))), 3)[np.tile(m, 3)]
            for k in ("loc", "loc_guess"):
                new = np.concatenate([[p[hit] for p in per[k][f]] for f in range(3)])[np.tile(m, 3)]
                res["comparisons"].append(compare(f"{hit[:4]}, {scope}, {k}, clips x 3 fold models", base_hits,
                                                  new, clusters))
            # out of fold: each clip with a known signer by the model that never saw that signer
            oof = m & (fold >= 0)
            bo = np.array([per["base"][fold[i]][i][hit] for i in np.flatnonzero(oof)])
            lo = np.array([per["loc"][fold[i]][i][hit] for i in np.flatnonzero(oof)])
            res["comparisons"].append(compare(f"{hit[:4]}, {scope}, loc, out of fold (signer known)", bo, lo,
                                              signer[oof]))
    groups = {g for grp in LOCATION_GROUPS for g in grp}
    for i, g in enumerate(gl):
        if g in groups:
            res["location_group_clips"].append(
                {"file": rows[i]["file"], "gloss": g,
                 **{k: [per[k][f][i]["top1"] for f in range(3)] for k in per}})
    res["per_clip"] = {k: [[p["top1"] for p in v[f]] for f in range(3)] for k, v in per.items()}
    res["files"] = [r["file"] for r in rows]
    out["clips"] = res
    lines = [(f"real clips: {len(rows)} wlasl_clips through Holistic", "base -> loc", "")]
    for c in res["comparisons"]:
        lo_, hi_ = c["ci95_signer_bootstrap"]
        lines.append((f"  {c['measure']} ({c['n']})", f"{100 * c['base']:.1f} % -> {100 * c['loc']:.1f} %",
                      f"{100 * c['diff']:+.1f} pts [{100 * lo_:+.1f}, {100 * hi_:+.1f}], McNemar p "
                      f"{c['mcnemar_p']:.3f}"))
    for r in res["location_group_clips"]:
        lines.append((f"  {r['file']} ({r['gloss']}): top-1 of the 3 fold models",
                      f"{'/'.join(map(str, r['base']))} -> {'/'.join(map(str, r['loc']))}",
                      f"guess only: {'/'.join(map(str, r['loc_guess']))}"))
    return lines


def main(argv=None) -> int:
    from signbridge.bench import machine_info, write_results
    from signbridge.recognize.train_hands import load_packed

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=str(REPO / ".signbridge" / "folds-b"), help="version-1 fold models")
    ap.add_argument("--loc", default=str(REPO / ".signbridge" / "folds-loc"), help="version-2 fold models")
    ap.add_argument("--packed", default=str(REPO / ".signbridge" / "wlasl_hands_24.npz"))
    ap.add_argument("--extracted", default=str(REPO / ".signbridge" / "clip_landmarks"),
                    help="cache of the wlasl_clips landmarks (extracted when missing)")
    ap.add_argument("--only", help="signers or clips")
    args = ap.parse_args(argv)
    base, loc = folds(Path(args.base)), folds(Path(args.loc))
    data = load_packed(args.packed)
    ensure_calibrated(base + loc, data)
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(), "seconds": {},
           "models": {k: [{"dir": str(c), **{f: json.loads((c / "config.json").read_text())["train"].get(f)
                                             for f in ("signer_fold", "epochs", "features", "seed", "history")}}
                          for c in cs] for k, cs in (("base", base), ("loc", loc))}}
    table = []
    for name in (args.only.split(",") if args.only else ("signers", "clips")):
        t0 = time.perf_counter()
        table += globals()[f"part_{name}"](args, data, base, loc, out)
        out["seconds"][name] = round(time.perf_counter() - t0, 1)
    w = max(len(r[0]) for r in table)
    for name, val, note in table:
        print(f"{name:<{w}}  {val:<34} {note}")
    write_results(REPO / "benchmarks" / "results" / "location_channel.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
