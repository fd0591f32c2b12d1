"""``signbridge recognize | train | eval | vocab``: thin adapters over the recognition functions."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from signbridge.cli import add_common, add_json, emit, say, settings_from_args

DEFAULT_DATA = "npy:../shared/data/wlasl_holistic_landmarks_npy"


def _model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--checkpoint", help="checkpoint folder (SIGNBRIDGE_CHECKPOINT; default: the shipped model)")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:N (SIGNBRIDGE_DEVICE)")
    g.add_argument("--batch-size", dest="batch_size", type=int, help="spans per forward pass (SIGNBRIDGE_BATCH_SIZE)")
    g.add_argument("--threads", dest="recognize_threads", type=int,
                   help="torch CPU threads, 0 = torch default (SIGNBRIDGE_RECOGNIZE_THREADS)")


def add_hint_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what is signed (hints)")
    g.add_argument("--vocabulary", metavar="FILE", help="word list: only these glosses may be shown, one per line "
                   "(SIGNBRIDGE_VOCABULARY)")
    g.add_argument("--script", metavar="FILE", help="the words signed in order, or the English sentences: aligned "
                   "to the signing (SIGNBRIDGE_SCRIPT)")


def register_dataset_segment(dsub) -> None:
    p = dsub.add_parser("segment", help="a dictionary/lesson recording + its word list in order -> one landmarks "
                                        "Parquet per word + labels.csv",
                        description="Extract the recording, align the script (the words signed, in order) to its "
                                    "signing and write OUT/<n>-<word>.parquet per placed word, OUT/labels.csv, "
                                    "OUT/unplaced.csv (words that could not be placed) and OUT/segment.json.")
    p.add_argument("video", help="the recording (a local video file)")
    p.add_argument("--script", required=True, metavar="WORDS.txt", help="the words signed, in order, one per line")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--workers", type=int, help="extraction processes (SIGNBRIDGE_WORKERS)")
    _model_flags(p)
    add_json(p, "the words placed, not placed and the output folder")
    add_common(p)
    p.set_defaults(func=cmd_dataset_segment)


def cmd_dataset_segment(args) -> int:
    from signbridge.recognize.script_dataset import segment_recording

    settings = settings_from_args(args)
    s = segment_recording(args.video, args.script, args.output, settings, workers=args.workers)
    if emit(args, s):
        return 0
    print(f"{s['placed']} of {s['words']} words placed -> {s['output']} (labels.csv)")
    if s["unplaced"]:
        print(f"not placed ({len(s['unplaced'])}): {', '.join(s['unplaced'][:20])}"
              f"{' ...' if len(s['unplaced']) > 20 else ''}", file=sys.stderr)
    return 0


def _recognizer_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-confidence", dest="min_confidence", type=float,
                   help="override the calibrated cut-off (SIGNBRIDGE_MIN_CONFIDENCE; unset: calibration.json)")
    p.add_argument("--recognizer", choices=("classifier", "vlm", "hybrid"),
                   help="what decides each span (SIGNBRIDGE_RECOGNIZER; vlm/hybrid read frames from each "
                        "landmarks file's source video)")
    p.add_argument("--vlm-model", dest="vlm_model",
                   help="vision-language model folder or hub id for vlm/hybrid (SIGNBRIDGE_VLM_MODEL)")


def _register_recognize(sub) -> None:
    p = sub.add_parser("recognize", help="landmarks Parquet -> gloss tracks (JSON)",
                       description="Segment and classify signs in landmark files; one gloss_track JSON per input. "
                                   "All spans of all inputs are classified in shared batches.")
    p.add_argument("inputs", nargs="+", metavar="LANDMARKS",
                   help="landmarks .parquet files, folders of them, or s3://bucket/key.parquet")
    p.add_argument("-o", "--output", required=True, help="output folder or s3://bucket/prefix")
    _recognizer_flags(p)
    add_hint_flags(p)
    _model_flags(p)
    add_json(p, "each input's gloss track URI and words")
    add_common(p)
    p.set_defaults(func=cmd_recognize)


def register(sub) -> None:
    _register_recognize(sub)
    _register_train(sub)
    _register_eval(sub)
    _register_vocab(sub)


def _register_train(sub) -> None:
    p = sub.add_parser("train", help="train the sign + letter classifiers and write a checkpoint",
                       description="Train with a fixed seed on WLASL .npy, Kaggle ISLR or our Parquet datasets.")
    p.add_argument("--data", action="append", metavar="SPEC",
                   help=f"npy:DIR, kaggle:DIR, parquet:DIR or a DIR (repeatable; default {DEFAULT_DATA})")
    p.add_argument("--letters", help="ASL-alphabet hand landmarks .npz for the fingerspelling classifier")
    p.add_argument("-o", "--output", required=True, help="checkpoint folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--letter-epochs", type=int, default=40)
    p.add_argument("--holdout", default="val", help="split held out for evaluation (val), or none to use all data")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=24, help="time steps each span is resampled to")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--canonical-hand", dest="canonical_hand", action=argparse.BooleanOptionalAction, default=False,
                   help="mirror spans whose left hand leads, so every span shows one dominant hand (train and inference)")
    p.add_argument("--hand-body", dest="hand_body", choices=("points", "wrist"), default="points",
                   help="hands in body coordinates: all 21 points, or the wrist only (shape is always given)")
    p.add_argument("--mixup", type=float, default=0.0, help="Beta(a, a) mixup of training sequences (0 = off)")
    p.add_argument("--proto-blend", dest="proto_blend", type=float, default=0.0,
                   help="move each class vector this far towards its clips' mean embedding after training")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="softmax temperature stored with the checkpoint (fit it with bench_recognize.py --only cv)")
    p.add_argument("--kaggle-fps", type=float, default=30.0, help="frame rate assumed for Kaggle ISLR files")
    p.add_argument("--resume", help="start from this checkpoint (same vocabulary)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (smoke runs)")
    p.add_argument("--name", default="asl-isolated")
    p.add_argument("--version", default="1")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    add_json(p, "the written checkpoint's configuration")
    add_common(p)
    p.set_defaults(func=cmd_train)


def _register_eval(sub) -> None:
    p = sub.add_parser("eval", help="top-1/top-5, per-class recall and a confusion-matrix plot",
                       description="Evaluate a checkpoint (its exported inference model) on labelled data.")
    p.add_argument("--data", action="append", metavar="SPEC", help=f"dataset spec (default {DEFAULT_DATA})")
    p.add_argument("--split", default="val", choices=("train", "val", "test", "all"),
                   help="which split of the data to evaluate (default val)")
    p.add_argument("--letters", help="also evaluate letters on the block-held-out frames of this .npz")
    p.add_argument("--segmentation", action=argparse.BooleanOptionalAction, default=False,
                   help="also evaluate boundaries on sequences concatenated from the evaluated clips")
    p.add_argument("-o", "--output", default="eval-report", help="folder for confusion.png and report.json")
    _model_flags(p)
    add_json(p, "the report (what report.json holds)")
    add_common(p)
    p.set_defaults(func=cmd_eval)


def _register_vocab(sub) -> None:
    p = sub.add_parser("vocab", help="few-shot vocabulary: add, list, remove signs without retraining")
    vs = p.add_subparsers(dest="vocab_cmd", metavar="ACTION")
    a = vs.add_parser("add", help="add GLOSS from 1-5 example clips (videos or landmarks .parquet)")
    a.add_argument("gloss")
    a.add_argument("clips", nargs="+")
    _model_flags(a)
    add_json(a)
    add_common(a)
    a.set_defaults(func=cmd_vocab_add)
    a = vs.add_parser("list", help="trained and few-shot glosses")
    add_json(a, "the vocabulary")
    _model_flags(a)
    add_common(a)
    a.set_defaults(func=cmd_vocab_list)
    a = vs.add_parser("remove", help="remove a few-shot gloss")
    a.add_argument("gloss")
    _model_flags(a)
    add_json(a)
    add_common(a)
    a.set_defaults(func=cmd_vocab_remove)
    from signbridge.review.cli import register_vocab_actions

    register_vocab_actions(vs)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# --------------------------------------------------------------------------- handlers

def _expand_inputs(inputs: list[str]) -> list[str]:
    from signbridge.errors import InputError

    out = []
    for i in inputs:
        if i.startswith("s3://"):
            out.append(i)
            continue
        p = Path(i)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*.parquet"))
            if not found:
                raise InputError("no .parquet files in this folder", source=i)
            out += found
        else:
            out.append(i)
    return out


def cmd_recognize(args) -> int:
    from signbridge.errors import SignBridgeError
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.frames import read_landmarks_file
    from signbridge.recognize.infer import frames_for_tables
    from signbridge.storage import open_store

    settings = settings_from_args(args)
    inputs = _expand_inputs(args.inputs)
    rec = load_recognizer(settings)  # a bad checkpoint fails once, before any input is read
    store = open_store(args.output, settings, create=True)
    items, names, failed = [], [], 0
    for src in inputs:  # one bad file is reported and skipped; the rest are still recognised
        try:
            items += frames_for_tables([read_landmarks_file(src, settings)], [src])
            names.append(Path(src.rstrip("/")).name.removesuffix(".parquet"))
        except SignBridgeError as e:
            print(f"signbridge recognize: skipped: {e}", file=sys.stderr)
            failed += 1
    hints = None
    if settings.vocabulary or settings.script:  # one list or script for every input, checked before any work
        from signbridge.recognize.hints import hint_texts
        from signbridge.recognize.infer import resolve_hints

        hints = resolve_hints([hint_texts(settings.vocabulary, settings.script, settings)], rec) * len(items)
    tracks = _recognize_items(items, names, rec, settings, hints)
    failed += len(items) - len(tracks)
    names = [n for n in names if n is not None]
    used: set[str] = set()
    results = []
    for name, track in zip(names, tracks):
        key = f"{name}.gloss_track.json"
        k = 2
        while key in used:
            key = f"{name}-{k}.gloss_track.json"
            k += 1
        used.add(key)
        uri = store.put_bytes(key, json.dumps(track.to_dict(), indent=1).encode(), "application/json")
        results.append({"input": track.source_uri, "gloss_track": uri, "labels": [s.label for s in track.spans],
                        **({"hints": track.hints} if track.hints else {})})
        if not args.json:
            words = " ".join(s.label for s in track.spans) or "(no signing detected)"
            print(f"{track.source_uri} -> {uri}: {words}")
            if track.hints:
                from signbridge.recognize.hints import describe

                print(f"  {describe(track.hints)}")
    emit(args, {"outputs": results, "failed": failed})
    if failed:
        print(f"signbridge recognize: {failed} of {len(inputs)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _recognize_items(items: list, names: list, rec, settings, hints: list | None = None) -> list:
    """All items in shared batches; with a VLM (which reads each source video) one video at a time, so a
    video gone from its URI is reported and skipped (its name in ``names`` set to None)."""
    from signbridge.errors import SignBridgeError
    from signbridge.recognize.infer import recognize_frames

    if not items:
        return []
    if settings.recognizer == "classifier":
        return recognize_frames(items, rec, settings, hints)
    from signbridge.recognize.vlm_model import load_vlm_recognizer

    load_vlm_recognizer(settings)  # a bad model setting fails once, before any video is read
    tracks = []
    for i, item in enumerate(items):
        try:
            tracks += recognize_frames([item], rec, settings, [hints[i]] if hints else None)
        except SignBridgeError as e:
            print(f"signbridge recognize: skipped: {e}", file=sys.stderr)
            names[i] = None
    return tracks


def _train_command(args) -> str:
    """The exact training command, rebuilt from the parsed flags (recorded in config.json and the model card)."""
    parts = ["signbridge", "train"]
    for spec in args.data or [DEFAULT_DATA]:
        parts += ["--data", spec]
    if args.letters:
        parts += ["--letters", args.letters]
    parts += ["-o", args.output]
    for flag, dest in (("--seed", "seed"), ("--epochs", "epochs"), ("--letter-epochs", "letter_epochs"),
                       ("--holdout", "holdout"), ("--d-model", "d_model"), ("--layers", "layers"),
                       ("--steps", "steps"), ("--dropout", "dropout"),
                       ("--hand-body", "hand_body"), ("--mixup", "mixup"),
                       ("--proto-blend", "proto_blend"), ("--temperature", "temperature"),
                       ("--kaggle-fps", "kaggle_fps"),
                       ("--resume", "resume"), ("--max-steps", "max_steps"), ("--name", "name"),
                       ("--version", "version")):
        v = getattr(args, dest)
        if v is not None:
            parts += [flag, str(v)]
    if args.canonical_hand:
        parts.append("--canonical-hand")
    return " ".join(shlex.quote(p) for p in parts)


def cmd_train(args) -> int:
    import torch

    from signbridge.recognize.train import run_training

    if args.threads:
        torch.set_num_threads(args.threads)
    command = _train_command(args)
    config = run_training(args.data or [DEFAULT_DATA], args.letters, args.output, seed=args.seed,
                          epochs=args.epochs, holdout=args.holdout, d_model=args.d_model, n_layers=args.layers,
                          n_steps=args.steps, dropout=args.dropout, letter_epochs=args.letter_epochs,
                          resume=args.resume, max_steps=args.max_steps, name=args.name, version=args.version,
                          command=command, kaggle_fps=args.kaggle_fps, canonical_hand=args.canonical_hand,
                          hand_body=args.hand_body, mixup=args.mixup, proto_blend=args.proto_blend,
                          temperature=args.temperature, log_fn=lambda m: print(m, file=sys.stderr))
    if not emit(args, {"output": args.output, "config": config}):
        print(f"checkpoint: {args.output}")
    return 0


def _data_key(spec: str) -> tuple[str, str]:
    kind, _, path = spec.partition(":")
    return kind, Path(path).resolve().name


def training_note(train: dict, specs: list[str], split: str) -> str:
    """What the checkpoint's own training record says about the evaluated clips: never more than it records."""
    recorded = [d["spec"] for d in train.get("data", [])]
    if not {_data_key(s) for s in specs} & {_data_key(s) for s in recorded}:
        return (f"NOTE: the checkpoint records no training on this data (it was trained on: "
                f"{', '.join(recorded) or 'nothing recorded'}); held-out only if these clips are not copies of it.")
    holdout = train.get("holdout", "val")
    if holdout != "none" and split not in ("train", "all"):  # training used split "train" only
        return f"NOTE: split {split!r} was held out of this checkpoint's training (it trained on split 'train')."
    if holdout == "none" and split == "test":
        return ("NOTE: this checkpoint was trained on every clip of this data present when it was trained "
                f"({', '.join(recorded)}); whether split 'test' was among them is not recorded.")
    return ("NOTE: this checkpoint was trained on " + ("these clips" if split != "all" or holdout == "none" else
                                                     "the 'train' clips among these") +
            ", so the numbers below are not held-out. Held-out numbers come from training the same recipe "
            "without them (benchmarks/bench_recognize.py; docs/model_card.md).")


def cmd_eval(args) -> int:
    import numpy as np

    from signbridge.errors import InputError
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.datasets import load_dataset
    from signbridge.recognize.evaluate import (concatenated_sequences, evaluate_isolated, evaluate_segmentation,
                                               format_report, plot_confusion)
    from signbridge.recognize.train import normalise_label

    out_ = say(args)
    settings = settings_from_args(args)
    rec = load_recognizer(settings)
    samples = []
    for spec in args.data or [DEFAULT_DATA]:
        samples += load_dataset(spec)
    for s in samples:
        s.label = normalise_label(s.label)
    if args.split != "all":
        samples = [s for s in samples if s.split == args.split]
    if not samples:
        raise InputError(f"no samples in split {args.split!r}", hint="use --split train, val, test or all: which ones the data has is in its labels")
    out = Path(args.output)
    res = evaluate_isolated(rec, samples, settings.batch_size)
    out_(f"model: {rec.name} {rec.version} ({rec.dir})")
    out_(training_note(rec.config.get("train", {}), args.data or [DEFAULT_DATA], args.split))
    out_(format_report(res))
    report = {"model": {"name": rec.name, "version": rec.version, "dir": str(rec.dir)}, "split": args.split,
              "signs": res}
    if args.letters:
        from signbridge.recognize.fingerspell import block_split, load_alphabet

        X, y, num = load_alphabet(args.letters)
        test = block_split(y, num)
        acc = float(np.mean(rec.letter_probs(X[test]).argmax(1) == y[test]))
        report["letters"] = {"block_heldout_top1": acc, "n": int(test.sum())}
        out_(f"letters (block-held-out frames, n={int(test.sum())}): {acc:.2%}")
    if args.segmentation:
        seg = evaluate_segmentation(concatenated_sequences(samples), rec.segment_cfg)
        report["segmentation"] = seg
        out_(f"segmentation on {seg['sequences']} concatenated sequences: precision {seg['precision']:.2f} "
              f"recall {seg['recall']:.2f} F1 {seg['f1']:.2f} at IoU >= 0.5")
    png = plot_confusion(res, out / "confusion.png")
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    out_(f"confusion matrix: {png}; report: {out / 'report.json'}")
    emit(args, {**report, "report": str(out / "report.json"), "confusion": str(png)})
    return 0


def cmd_vocab_add(args) -> int:
    from signbridge.recognize.vocab import add_gloss

    r = add_gloss(args.gloss, args.clips, settings_from_args(args))
    if not emit(args, r):
        print(f"added {r['gloss']!r} from {r['clips']} clip(s) -> {r['file']}")
    return 0


def cmd_vocab_list(args) -> int:
    from signbridge.recognize.vocab import list_vocab

    v = list_vocab(settings_from_args(args))
    if emit(args, v):
        return 0
    print(f"model: {v['model']} ({v['checkpoint']})")
    print(f"trained glosses ({len(v['trained'])}): {', '.join(v['trained'])}")
    fs = v["few_shot"]
    print(f"few-shot glosses ({len(fs)}): " + (", ".join(f"{g} ({n} clips)" for g, n in sorted(fs.items())) or "none"))
    print(f"few-shot file: {v['few_shot_file']}")
    print(f"fingerspelling: {v['fingerspelling']}")
    return 0


def cmd_vocab_remove(args) -> int:
    from signbridge.recognize.vocab import remove_gloss

    path = remove_gloss(args.gloss, settings_from_args(args))
    if not emit(args, {"removed": args.gloss, "file": str(path)}):
        print(f"removed {args.gloss!r} from {path}")
    return 0
