"""WLASL-scale recogniser benchmark: test-split accuracy, open-set numbers, real clips, segmentation, speed.

    .venv/bin/python benchmarks/bench_recognize_wlasl.py                       # all parts, shipped checkpoint
    .venv/bin/python benchmarks/bench_recognize_wlasl.py --only wlasl --checkpoint DIR --tag v2000

Prints a table and writes JSON to benchmarks/results/recognize_wlasl[-TAG].json. Parts:
  wlasl         top-1/top-5 on the NSLT-2000 test split at WLASL-100/300/1000/2000 (classes the model has)
  openset       shown-word precision/recall, OOV false-word rate, AUROC at the shipped thresholds, reliability
                diagram (PNG beside the JSON); held-out WLASL clips of the hands data
  clips         real-video check: the 217 wlasl_clips through our extractor (Holistic) and the full recogniser;
                none of their video ids is in training
  segmentation  boundary F1 @ IoU >= 0.5 on concatenations of one signer's clips, and no silent videos
  continuous    the two continuous clips (a How2Sign sentence, WRONG WHAT): spans and what is shown (no boundaries
                are annotated, so this is qualitative)
  throughput    CPU spans/s of the exported model (1 and 2 threads) and end to end
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
HANDS = DATA / "wlasl_hands_mediapipe"
CLIPS = DATA / "wlasl_clips"
NPY = DATA / "wlasl_holistic_landmarks_npy"
PARTS = ("wlasl", "openset", "clips", "segmentation", "continuous", "throughput")
PUBLISHED = {"WLASL-100": {"Pose-TGCN": 0.554, "SPOTER": 0.632}, "WLASL-2000": {"Pose-TGCN": 0.237}}


def packed(args):
    from signbridge.recognize.train_hands import load_packed
    from signbridge.recognize.wlasl_hands import clip_ids, pack

    path = Path(args.packed)
    if not path.is_file():
        pack(HANDS, path, 24, exclude_ids=clip_ids(CLIPS))
    return load_packed(path)


def part_wlasl(rec, args, out):
    from signbridge.recognize.wlasl_eval import wlasl_table

    rows = wlasl_table(rec.dir, packed(args))
    for r in rows:
        r["published_top1"] = PUBLISHED.get(r["subset"], {})
    out["wlasl"] = rows
    return [(f"{r['subset']} test top-1 / top-5 ({r['n_test']} clips)", f"{r['top1']:.3f} / {r['top5']:.3f}",
             ", ".join(f"{k} {v:.3f}" for k, v in r["published_top1"].items())) for r in rows]


def part_openset(rec, args, out):
    from signbridge.recognize.wlasl_eval import heldout_report

    rep = heldout_report(rec.dir, packed(args), int(rec.calibration["shown_classes"]), rec.temperature,
                         rec.thresholds)
    out["openset"] = rep
    png = Path(args.results).with_suffix(".reliability.png")
    plot_reliability(rep["reliability"], png, f"{rec.name}: WLASL-{rec.calibration['shown_classes']} test clips")
    out["openset"]["reliability_png"] = str(png.relative_to(REPO))
    p, s = rep["plain"], rep["shown"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    return [("AUROC in-vocabulary vs unseen glosses", f"{rep['auroc_unseen_glosses']:.3f}", ""),
            (f"plain words (conf >= {p['threshold']:.3f}): precision (half OOV) / recall",
             f"{fmt(p['precision_half_oov'])} / {fmt(p['recall'])}", ">= 0.90 precision"),
            (f"all shown words (conf >= {s['threshold']:.3f}): precision (half OOV) / recall",
             f"{fmt(s['precision_half_oov'])} / {fmt(s['recall'])}", ">= 0.70 precision"),
            ("OOV false-word rate at the shown threshold", fmt(s["oov_false_word_rate"]), "<= 0.10"),
            ("expected calibration error (in-vocabulary)", f"{rep['reliability']['ece']:.3f}", "")] \
        + _unseen_signers(rec, out, fmt)


def _unseen_signers(rec, out, fmt):
    """The fold models' numbers on signers they never saw (test clips), as calibrate wrote them."""
    sd = rec.calibration.get("signer_disjoint")
    if not sd:
        return [("unseen signers", "not calibrated with fold models", "")]
    out["openset"]["signer_disjoint"] = sd
    u = sd["unseen_signer_test"]
    s = u["shown"]
    return [(f"unseen signers ({len(sd['folds'])} fold models, their held-out signers' test clips): top-1",
             fmt(u["top1"]), ""),
            ("  shown words: precision (half OOV) / recall / OOV false words",
             f"{fmt(s['precision_half_oov'])} / {fmt(s['recall'])} / {fmt(s['oov_false_word_rate'])}",
             ">= 0.70 / / <= 0.10")]


def plot_reliability(rel, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    b = rel["bins"]
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.bar([r["lo"] for r in b], [r["accuracy"] for r in b], width=0.1, align="edge", alpha=0.6, edgecolor="k")
    for r in b:
        ax.text(r["lo"] + 0.05, r["accuracy"] + 0.02, str(r["n"]), ha="center", fontsize=7)
    ax.set(xlabel="confidence", ylabel="accuracy", title=f"{title}\nECE {rel['ece']:.3f}", xlim=(0, 1), ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _clip_tables(args, settings):
    """(table, label row) per wlasl_clips video, from our extractor (cached; extracted when missing)."""
    import pyarrow.parquet as pq

    cache = Path(args.extracted)
    cache.mkdir(parents=True, exist_ok=True)
    with (CLIPS / "labels.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if (CLIPS / r["file"]).is_file()]
    out = []
    for r in rows:
        p = cache / (Path(r["file"]).stem + ".landmarks.parquet")
        if not p.is_file():
            from signbridge.extract import extract_video

            pq.write_table(extract_video(CLIPS / r["file"], settings.replace(workers=1, face="none")).table, p)
        out.append((pq.read_table(p), r))
    return out


def part_clips(rec, args, out):
    from signbridge.recognize import recognize_tables
    from signbridge.recognize.same_signs import word_for
    from signbridge.recognize.wlasl_hands import clip_ids

    settings = load_settings_(args)
    items = _clip_tables(args, settings)
    tracks = recognize_tables([t for t, _ in items], settings, [r["file"] for _, r in items])
    shown_vocab = set(rec.labels[:int(rec.calibration["shown_classes"])])
    trained = set(rec.base_labels)
    per, agg = [], {"in": [], "out": []}
    for track, (_, r) in zip(tracks, items):
        r = {**r, "label": r["gloss"], "gloss": word_for(r["gloss"], rec.base_labels)}  # MOM is right as MOTHER
        words = [s for s in track.spans if s.kind != "unknown"]  # fingerspelled words are shown too (marked)
        best = max(track.spans, key=lambda s: s.confidence, default=None)
        top5 = [t.label for t in best.top_k] if best else []
        row = {"file": r["file"], "gloss": r["gloss"], "label": r["label"], "nslt_split": r["nslt_split"],
               "in_shown_vocabulary": r["gloss"] in shown_vocab, "in_trained": r["gloss"] in trained,
               "spans": len(track.spans), "status": track.status, "reason": track.status_reason,
               "shown": [(s.label, s.tier, round(s.confidence, 3)) for s in words],
               "top1": top5[0] if top5 else None, "top5_hit": r["gloss"] in top5}
        per.append(row)
        agg["in" if row["in_shown_vocabulary"] else "out"].append(row)

    def words(rows, tier=None):
        ws = [(w, r["gloss"]) for r in rows for w in r["shown"] if tier is None or w[1] == tier]
        return len(ws), sum(w[0] == g for w, g in ws)

    n_all, ok_all = words(agg["in"] + agg["out"])
    n_plain, ok_plain = words(agg["in"] + agg["out"], "plain")
    res = {"clips": len(per), "in_training_ids": len(clip_ids(CLIPS) & set(packed(args)["video_id"].tolist())),
           "in_shown_vocabulary": len(agg["in"]), "out_of_shown_vocabulary": len(agg["out"]),
           "top1_in_vocab": float(np.mean([r["top1"] == r["gloss"] for r in agg["in"]])) if agg["in"] else None,
           "top5_in_vocab": float(np.mean([r["top5_hit"] for r in agg["in"]])) if agg["in"] else None,
           "recall_shown_in_vocab": float(np.mean([any(w[0] == r["gloss"] for w in r["shown"]) for r in agg["in"]]))
           if agg["in"] else None,
           "shown_words": n_all, "shown_words_right": ok_all,
           "shown_word_precision": ok_all / n_all if n_all else None,
           "plain_words": n_plain, "plain_word_precision": ok_plain / n_plain if n_plain else None,
           "oov_false_word_rate": float(np.mean([bool(r["shown"]) for r in agg["out"]])) if agg["out"] else None,
           "clips_without_spans": sum(r["spans"] == 0 for r in per),
           "no_signing_recognised": sum(r["status"] == "no_signing_recognised" for r in per), "per_clip": per}
    out["clips"] = res
    f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    return [(f"real clips: {res['clips']} ({res['in_shown_vocabulary']} in the shown vocabulary)",
             f"top-1 {f(res['top1_in_vocab'])}, top-5 {f(res['top5_in_vocab'])}", ""),
            ("  shown-word precision (all / plain)", f"{f(res['shown_word_precision'])} ({n_all} words) / "
             f"{f(res['plain_word_precision'])} ({n_plain})", ">= 0.70 / >= 0.90"),
            ("  OOV clips shown as a word", f(res["oov_false_word_rate"]), "<= 0.10"),
            ("  clips with no span / 'no signing recognised'",
             f"{res['clips_without_spans']} / {res['no_signing_recognised']}", "")]


def part_segmentation(rec, args, out):
    from signbridge.recognize.datasets import load_dataset
    from signbridge.recognize.evaluate import evaluate_segmentation
    from signbridge.recognize.sequences import concat_frames
    from signbridge.recognize.segment import segment

    samples = load_dataset(f"npy:{NPY}")
    by: dict[str, list] = {}
    for s in samples:
        by.setdefault(s.signer, []).append(s)
    seqs = []
    for _, group in sorted(by.items()):
        for i in range(0, len(group) - 2, 6):
            chunk = group[i:i + 6]
            if len(chunk) >= 3:
                fr, b = concat_frames([c.frames for c in chunk])
                seqs.append((fr, b, [c.label for c in chunk]))
    res = evaluate_segmentation(seqs, rec.segment_cfg)
    with_hands = [s for s in samples if s.frames.any_hand.any()]
    silent = sum(len(segment(s.frames, rec.segment_cfg)) == 0 for s in with_hands)
    out["segmentation"] = {"same_signer_concatenations": res, "n_sequences": len(seqs),
                           "clips_with_hands": len(with_hands), "clips_with_hands_but_no_span": silent}
    return [(f"segmentation F1 @IoU0.5, {len(seqs)} same-signer concatenations",
             f"{res['f1']:.3f} (P {res['precision']:.2f} R {res['recall']:.2f})", ">= 0.85"),
            (f"isolated clips with hands but no span ({len(with_hands)} clips)", str(silent), "0")]


def part_continuous(rec, args, out):
    import pyarrow.parquet as pq

    from signbridge.recognize import recognize_tables

    settings = load_settings_(args)
    folder = DATA / "continuous_clips"
    with (folder / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    cache = Path(args.extracted)
    cache.mkdir(parents=True, exist_ok=True)
    tables = []
    for r in rows:
        p = cache / (Path(r["file"]).stem + ".landmarks.parquet")
        if not p.is_file():
            from signbridge.extract import extract_video

            pq.write_table(extract_video(folder / r["file"], settings.replace(workers=1, face="none")).table, p)
        tables.append(pq.read_table(p))
    res = []
    for r, t in zip(rows, recognize_tables(tables, settings, [r["file"] for r in rows])):
        res.append({"file": r["file"], "truth": r["label_text"], "status": t.status,
                    "spans": [(round(s.start_ms), round(s.end_ms), s.label, s.tier, round(s.confidence, 3),
                               [k.label for k in s.top_k[:3]]) for s in t.spans]})
    out["continuous"] = res
    return [(f"continuous: {r['file'][:28]} ({r['truth'][:24]})",
             f"{len(r['spans'])} spans: " + " ".join(s[2] for s in r["spans"]), "") for r in res]


def part_throughput(rec, args, out):
    import torch

    from signbridge.recognize.infer import recognize_frames
    from signbridge.recognize.datasets import load_dataset

    T, F = rec.feature_cfg.n_steps, rec.feature_cfg.n_features
    x = torch.randn(256, T, F)
    rows, lines = [], []
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for bs in (16, 256):
            with torch.inference_mode():
                for _ in range(3):
                    rec.model(x[:bs])
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < args.seconds:
                    rec.model(x[:bs])
                    n += 1
                dt = time.perf_counter() - t0
            rows.append({"threads": threads, "batch": bs, "spans_per_s": bs * n / dt})
            lines.append((f"CPU model spans/s, {threads} thread(s), batch {bs}", f"{bs * n / dt:,.0f}",
                          ">= 2,000" if bs == 256 else ""))
    torch.set_num_threads(before)
    samples = load_dataset(f"npy:{NPY}")
    items = [(s.frames, s.source, "") for s in samples]
    settings = load_settings_(args)
    recognize_frames(items[:4], rec, settings)
    t0 = time.perf_counter()
    tracks = recognize_frames(items, rec, settings)
    dt = time.perf_counter() - t0
    n_spans = sum(len(t.spans) for t in tracks)
    e2e = {"videos": len(items), "spans": n_spans, "seconds": dt, "spans_per_s": n_spans / dt}
    out["throughput"] = {"model_only": rows, "end_to_end_1_thread": e2e, "torch": torch.__version__,
                         "cpu_count": os.cpu_count()}
    lines.append((f"end to end, 1 thread ({len(items)} videos: segment + features + model + letters)",
                  f"{n_spans / dt:,.0f} spans/s", ""))
    return lines


def load_settings_(args):
    from signbridge.settings import load_settings

    return load_settings(env={}, home=str(REPO / ".signbridge" / "bench"), device="cpu",
                         checkpoint=args.checkpoint, recognize_threads=1)


def main(argv=None) -> int:
    from signbridge.bench import machine_info, write_results
    from signbridge.recognize.checkpoint import load_recognizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help=f"comma list of parts ({', '.join(PARTS)})")
    ap.add_argument("--checkpoint", help="checkpoint folder (default: the shipped one)")
    ap.add_argument("--packed", default=str(REPO / ".signbridge" / "wlasl_hands_24.npz"))
    ap.add_argument("--extracted", default=str(REPO / ".signbridge" / "bench" / "wlasl_clips_extracted"))
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    parts = args.only.split(",") if args.only else list(PARTS)
    args.results = str(REPO / "benchmarks" / "results" / f"recognize_wlasl{'-' + args.tag if args.tag else ''}.json")
    rec = load_recognizer(load_settings_(args))
    out = {"model": {"name": rec.name, "version": rec.version, "dir": str(rec.dir), "labels": len(rec.base_labels),
                     "shown_classes": rec.calibration["shown_classes"], "thresholds": rec.thresholds,
                     "command": rec.config.get("train", {}).get("command")},
           "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(), "parts": parts, "seconds": {}}
    table = []
    for name in parts:
        t0 = time.perf_counter()
        table += globals()[f"part_{name}"](rec, args, out)
        out["seconds"][name] = round(time.perf_counter() - t0, 1)
    w = max(len(r[0]) for r in table) if table else 10
    for name, val, target in table:
        print(f"{name:<{w}}  {val:<40} {target}")
    write_results(args.results, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
