"""``signbridge probe``: layer-wise linear probes of sign information.

    signbridge probe vlm --model DIR --images CSV|DIR -o DIR      # a local HF vision-language model
    signbridge probe vlm --model DIR --videos MANIFEST.csv -o DIR # frames sampled from labelled videos
    signbridge probe recognizer --alphabet NPZ|--wlasl DIR -o DIR # our own landmark recogniser
    signbridge probe fit ACTS.npz [ACTS.npz ...] -o DIR           # re-probe cached activations, no model
    signbridge probe tiny-vlm DIR                                    # random-weight LLaVA for smoke tests
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from signbridge.errors import ConfigError, InputError


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of layer numbers") from None


def _poolings(text: str) -> tuple[str, ...]:
    from signbridge.probe.hooks import POOLINGS

    out = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [p for p in out if p not in POOLINGS]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"pooling must be a comma-separated subset of {','.join(POOLINGS)}")
    return out


def _probe_args(p: argparse.ArgumentParser) -> None:
    from signbridge.cli import add_json

    g = p.add_argument_group("probes")
    out = g.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", dest="out", metavar="DIR",
                     help="folder for curve.png/svg, projection, layers.csv, results.json, report.html")
    out.add_argument("--out", dest="out", help=argparse.SUPPRESS)  # deprecated spelling of --output
    g.add_argument("--repeats", type=int, default=5, help="repeats of stratified k-fold (default 5)")
    g.add_argument("--folds", type=int, default=5, help="folds per repeat (default 5; fewer if a label is rarer)")
    g.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression (default 1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--jobs", type=int, default=None,
                   help="parallel probe fits (default SIGNBRIDGE_WORKERS; 0 = all cores)")
    g.add_argument("--layers", type=_ints, default=None,
                   help="probe only these layers, e.g. 8,16,24,31 (activations are still taken at every layer)")
    add_json(p, "the summary (what results.json holds)")


def _cache_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", dest="use_cache", action=argparse.BooleanOptionalAction, default=True,
                   help="read and write the activation cache (default: on)")


def _options(args, settings):
    from signbridge.probe.run import ProbeOptions

    jobs = args.jobs if args.jobs is not None else settings.workers
    return ProbeOptions(repeats=args.repeats, folds=args.folds, C=args.C, seed=args.seed,
                        jobs=-1 if jobs == 0 else jobs, layers=args.layers)


def register(sub) -> None:
    from signbridge.cli import add_common, add_json

    probe = sub.add_parser("probe", help="layer-wise linear probes of sign information in VLMs and our recogniser",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    psub = probe.add_subparsers(dest="probe_command", metavar="WHAT")
    probe.set_defaults(func=lambda a: (probe.print_help(), 2)[1])

    v = psub.add_parser("vlm", help="probe every decoder layer of a local Hugging Face vision-language model")
    v.add_argument("--model", required=True, help="local model folder (config.json, weights, processor files)")
    src = v.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="Sign-MNIST style CSV (label,pixel1..) or a folder with one sub-folder per label")
    src.add_argument("--videos", help="CSV with file,label[,start_s,end_s]: frames are sampled from each video")
    v.add_argument("--frames-per-video", type=int, default=3, help="frames sampled per video (default 3)")
    v.add_argument("--per-class", type=int, default=None, help="use the first N samples of each label")
    v.add_argument("--prompt", default=None, help='question asked with each image (default "Which ASL letter is this hand sign?")')
    v.add_argument("--pooling", type=_poolings, default=("last", "mean"),
                   help="last, mean and/or image (mean over image tokens); default last,mean")
    v.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    v.add_argument("--image-size", type=int, default=None,
                   help="resize images to NxN before the processor (e.g. 336 for 28x28 Sign-MNIST)")
    v.add_argument("--device", dest="device", help="auto, cpu, cuda, cuda:N (SIGNBRIDGE_DEVICE)")
    v.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                   help="weights dtype (auto: the checkpoint's on GPU, float32 on CPU)")
    v.add_argument("--load-in-4bit", action=argparse.BooleanOptionalAction, default=False,
                   help="4-bit NF4 weights via bitsandbytes (CUDA only)")
    v.add_argument("--generate", action=argparse.BooleanOptionalAction, default=True,
                   help="also ask the model for its own answers, for the latent-versus-generated gap (default: on)")
    v.add_argument("--max-new-tokens", type=int, default=12, help="answer length (default 12)")
    _cache_flag(v)
    _probe_args(v)
    add_common(v)
    v.set_defaults(func=_cmd_vlm)

    f = psub.add_parser("fit", help="re-run probes on cached activations (no model needed)")
    f.add_argument("activations", nargs="+", help=".npz files from $SIGNBRIDGE_HOME/cache/probe (one per pooling)")
    f.add_argument("--answers", default=None, help="answers JSON from the same cache, for the generated-answer gap")
    _probe_args(f)
    add_common(f)
    f.set_defaults(func=_cmd_fit)

    r = psub.add_parser("recognizer", help="probe our recogniser's layers (float checkpoint) on landmark data")
    r.add_argument("--part", choices=("sign", "letters"), default="sign",
                   help="sign: the transformer encoder (default); letters: the fingerspelling MLP")
    rsrc = r.add_mutually_exclusive_group(required=True)
    rsrc.add_argument("--alphabet", help="ASL-alphabet hand landmarks .npz (X, label, source_file)")
    rsrc.add_argument("--wlasl", help="folder of WLASL holistic .npy files with labels.csv")
    r.add_argument("--checkpoint", dest="checkpoint", help="recogniser checkpoint folder (SIGNBRIDGE_CHECKPOINT; default: shipped)")
    r.add_argument("--per-class", type=int, default=None, help="alphabet: N evenly spaced frames per letter")
    r.add_argument("--heldout-only", action=argparse.BooleanOptionalAction, default=False,
                   help="alphabet: only the frame blocks the letter classifier did not train on")
    r.add_argument("--min-per-class", type=int, default=3, help="wlasl: drop glosses with fewer clips (default 3)")
    r.add_argument("--group-by", choices=("signer", "clip"), default="signer",
                   help="wlasl: keep each signer (default) or only each clip on one side of a split")
    r.add_argument("--device", dest="device", help="auto, cpu, cuda, cuda:N (SIGNBRIDGE_DEVICE)")
    _cache_flag(r)
    _probe_args(r)
    add_common(r)
    r.set_defaults(func=_cmd_recognizer)

    t = psub.add_parser("tiny-vlm", help="write a random-weight LLaVA-architecture model (smoke tests; meaningless accuracy)")
    t.add_argument("dest", help="folder to write")
    t.add_argument("--hidden", type=int, default=32)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--image-size", type=int, default=28)
    add_json(t, "where the model was written")
    add_common(t)
    t.set_defaults(func=_cmd_tiny)


def _report(out: Path, summary: dict, args) -> None:
    from signbridge.cli import emit

    if emit(args, summary):
        return
    b = summary["best"]
    ib = summary.get("input_baseline")
    line = (f"best layer {b['layer']} ({b['pooling']}): {b['accuracy']:.1%} "
            f"[{b['ci_low']:.1%}, {b['ci_high']:.1%}], control {b['control']:.1%}, chance {summary['chance']:.1%}")
    gen = summary.get("generated")
    if ib:
        line += f"; {ib['name']} alone {ib['accuracy']:.1%}"
    if gen and gen.get("accuracy") is not None:
        line += f"; model's own answers {gen['accuracy']:.1%} (gap {summary['gap']:+.1%})"
    print(line)
    print(f"report: {out / 'report.html'}")


def _cmd_vlm(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.probe.data import load_images, load_video_frames
    from signbridge.probe.run import pixel_features, probe_activations, vlm_activations
    from signbridge.probe.vlm import DEFAULT_PROMPT

    settings = settings_from_args(args)
    if args.batch_size < 1 or args.frames_per_video < 1:
        raise ConfigError("--batch-size and --frames-per-video must be at least 1")
    if args.images:
        data = load_images(args.images)
    else:
        data = load_video_frames(args.videos, args.frames_per_video, settings.max_side)
    data = data.per_class(args.per_class).check_probeable()
    prompt = args.prompt or DEFAULT_PROMPT
    acts, answers, info = vlm_activations(
        args.model, data, settings.home, prompt=prompt, poolings=args.pooling, device=settings.device,
        dtype=args.dtype, load_in_4bit=args.load_in_4bit, batch_size=args.batch_size, image_size=args.image_size,
        generate=args.generate, max_new_tokens=args.max_new_tokens, use_cache=args.use_cache,
        progress=sys.stderr.isatty())
    out = Path(args.out)
    summary = probe_activations(acts, out, _options(args, settings), model=str(args.model), data=data.source,
                                answers=answers, prompt=prompt, skipped=data.skipped, extra={"extraction": info},
                                baseline=("raw 28x28 pixels", pixel_features(data.items)))
    _report(out, summary, args)
    return 0


def _cmd_recognizer(args) -> int:
    import numpy as np

    from signbridge.cli import settings_from_args
    from signbridge.probe.recognizer import load_alphabet_set, load_wlasl_set, split_note
    from signbridge.probe.run import probe_activations, recognizer_study

    settings = settings_from_args(args)
    if args.alphabet:
        data = load_alphabet_set(args.alphabet, per_class=args.per_class, heldout_only=args.heldout_only)
    else:
        data = load_wlasl_set(args.wlasl, min_per_class=args.min_per_class,
                              group="signer" if args.group_by == "signer" else "clip")
    data.check_probeable()
    acts, answers, info = recognizer_study(args.part, data, settings.home, checkpoint=settings.checkpoint,
                                           device=settings.device, use_cache=args.use_cache)
    note = split_note(data)
    if note:
        info["training_overlap"] = note
    out = Path(args.out)
    model = f"{info.get('checkpoint', acts[0].meta.get('model'))} [{args.part}]"
    summary = probe_activations(acts, out, _options(args, settings), model=model, data=data.source,
                                answers=answers, prompt="(the recogniser's own top-1 label)" if answers else None,
                                skipped=data.skipped, extra={"extraction": info},
                                baseline=("raw hand landmarks (21x3)", np.stack(data.items).reshape(len(data), -1))
                                if data.kind == "hands" else None)
    _report(out, summary, args)
    return 0


def _cmd_fit(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.probe.cache import Activations
    from signbridge.probe.run import probe_activations

    settings = settings_from_args(args)
    acts = [Activations.load(p) for p in args.activations]
    if len({a.pooling for a in acts}) != len(acts):
        raise InputError("two activation files have the same pooling", hint="pass one file per pooling")
    answers = prompt = None
    if args.answers:
        try:
            doc = json.loads(Path(args.answers).read_text())
            answers, prompt = doc["answers"], doc.get("prompt")
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"is not an answers file ({e})", source=args.answers) from None
        if len(answers) != len(acts[0].ids):
            raise InputError(f"has {len(answers)} answers for {len(acts[0].ids)} samples", source=args.answers)
    meta = acts[0].meta
    out = Path(args.out)
    summary = probe_activations(acts, out, _options(args, settings), model=str(meta.get("model", "?")),
                                data=str(meta.get("data", "?")), answers=answers, prompt=prompt)
    _report(out, summary, args)
    return 0


def _cmd_tiny(args) -> int:
    from signbridge.probe.tiny import build_tiny_vlm

    from signbridge.cli import emit

    path = build_tiny_vlm(args.dest, hidden=args.hidden, layers=args.layers, image_size=args.image_size)
    if not emit(args, {"model": str(path)}):
        print(f"wrote a random-weight LLaVA-architecture model to {path}")
    return 0
