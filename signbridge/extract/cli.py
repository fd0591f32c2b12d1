"""``signbridge extract`` and ``signbridge dataset build|export``."""
from __future__ import annotations

import argparse
import sys


def _extraction_flags(p: argparse.ArgumentParser) -> None:
    from signbridge.settings import setting  # one list of choices: the settings table's

    g = p.add_argument_group("extraction")
    g.add_argument("--fps", type=float, help="frames per second sampled; 0 = every frame (SIGNBRIDGE_FPS, default 15)")
    g.add_argument("--max-side", dest="max_side", type=int,
                   help="downscale so the longer side is at most this (SIGNBRIDGE_MAX_SIDE, default 640)")
    g.add_argument("--workers", type=int,
                   help="worker processes, one MediaPipe graph each; 0 = CPU cores (SIGNBRIDGE_WORKERS)")
    g.add_argument("--face", choices=("full", "reduced", "none"),
                   help="face landmarks: full mesh, reduced (mouth + eyebrows) or none (SIGNBRIDGE_FACE)")
    g.add_argument("--extractor", choices=setting("extractor").choices,
                   help="cpu: MediaPipe's graph, one process per core; gpu: the same models batched across videos "
                        "on --device (SIGNBRIDGE_EXTRACTOR, default cpu)")
    g.add_argument("--device", help="torch device of the GPU extractor: auto, cuda, cuda:N, cpu (SIGNBRIDGE_DEVICE)")
    g.add_argument("--gpu-precision", dest="gpu_precision", choices=setting("gpu_precision").choices,
                   help="the GPU extractor's arithmetic: fp32 or fp16 (SIGNBRIDGE_GPU_PRECISION, default fp32)")
    _progress_flags(g)


def _progress_flags(g) -> None:
    # deprecated spelling of --face none
    g.add_argument("--no-face", dest="face", action="store_const", const="none", help=argparse.SUPPRESS)
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bar on a terminal (default: on)")


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json, add_setting_flags
    from signbridge.extract.dataset import FILE_COLUMNS, LABEL_COLUMNS
    from signbridge.extract.splits import SIGNER_COLUMNS
    from signbridge.settings import DATASET_OPTIONS

    p = sub.add_parser("extract", help="videos → MediaPipe Holistic landmarks (Parquet), Kaggle/pose exports",
                       description="Extract landmarks from video files, folders (recursive) and s3:// prefixes. "
                                   "Writes <name>.landmarks.parquet and <name>.stats.json per video and "
                                   "extract_manifest.json per run; exits 1 if any input failed.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video file, folder or s3://bucket/prefix")
    p.add_argument("-o", "--output", required=True, help="output folder or s3://bucket/prefix")
    p.add_argument("--export", action="append", choices=("kaggle", "pose"), default=[],
                   help="also write <name>.kaggle.parquet (Kaggle ISLR long format) and/or <name>.pose (pose-format)")
    _extraction_flags(p)
    add_json(p, "the run's extraction manifest")
    add_common(p)
    p.set_defaults(func=_extract)

    d = sub.add_parser("dataset", help="labelled videos → partitioned Parquet dataset with a card; exports",
                       description="Build landmark datasets and export landmark files.")
    dsub = d.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = dsub.add_parser("build", help="videos + labels CSV → Parquet dataset with splits + card",
                        description="Extract every video listed in a labels CSV and write OUT/data/<split>/"
                                    "<video_id>.parquet (frames with video_id, label, split), OUT/videos/<split>"
                                    ".parquet, OUT/dataset.json and OUT/README.md (a Hugging Face dataset card). "
                                    "Splits are signer-disjoint when the CSV has a signer column; a split column "
                                    "is used as given.")
    b.add_argument("--labels", required=True, help="CSV with a file column and a label column (local or s3://)")
    b.add_argument("--videos", help="folder or s3:// prefix the file column is relative to (default: the CSV's folder)")
    b.add_argument("-o", "--output", required=True, help="dataset folder or s3://bucket/prefix")
    b.add_argument("--file-column", help=f"default: the first of {', '.join(FILE_COLUMNS)}")
    b.add_argument("--label-column", help=f"default: the first of {', '.join(LABEL_COLUMNS)}")
    b.add_argument("--signer-column", help=f"default: the first of {', '.join(SIGNER_COLUMNS)}, if any")
    b.add_argument("--name", help="dataset name for the card (default: output folder name)")
    g = b.add_argument_group("extraction and splits (each overrides its SIGNBRIDGE_* variable)")
    add_setting_flags(g, DATASET_OPTIONS)
    _progress_flags(g)
    add_json(b, "the dataset card")
    add_common(b)
    b.set_defaults(func=_dataset_build)

    e = dsub.add_parser("export", help="landmarks Parquet → Kaggle ISLR long format or pose-format .pose")
    e.add_argument("landmarks", help="a <name>.landmarks.parquet file")
    e.add_argument("--format", required=True, choices=("kaggle", "pose"))
    e.add_argument("-o", "--output", required=True, help="output file")
    add_json(e, "where the file was written")
    add_common(e)
    e.set_defaults(func=_dataset_export)
    from signbridge.review.cli import register_dataset_actions

    register_dataset_actions(dsub)
    from signbridge.recognize.cli import register_dataset_segment

    register_dataset_segment(dsub)


def _extract(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.extract.outputs import MANIFEST_KEY, extract_inputs

    settings = settings_from_args(args)
    progress = args.progress and sys.stderr.isatty()
    m = extract_inputs(args.inputs, args.output, settings, workers=args.workers, exports=args.export,
                       progress=progress)
    ok = sum(v.status == "ok" for v in m.videos)
    failed = [v for v in m.videos if v.status == "failed"]
    nosigner = [v for v in m.videos if v.status == "no_signer"]
    for v in failed:
        print(f"FAILED {v.error}", file=sys.stderr)
    for v in nosigner:
        print(f"NO SIGNER {v.error}", file=sys.stderr)
    out = m.settings.get("output", args.output)
    if not emit(args, {"output": out, "manifest": MANIFEST_KEY, "extracted": ok, "no_signer": len(nosigner),
                       "failed": len(failed), "run": m.to_dict()}):
        print(f"{ok} extracted, {len(nosigner)} without a signer, {len(failed)} failed → {out} "
              f"(manifest: {MANIFEST_KEY})")
    return 1 if failed else 0


def _dataset_build(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.extract.dataset import build_dataset

    settings = settings_from_args(args)
    card = build_dataset(args.labels, args.output, settings, videos_root=args.videos, workers=args.workers,
                         progress=args.progress and sys.stderr.isatty(), file_column=args.file_column,
                         label_column=args.label_column, signer_column=args.signer_column, name=args.name)
    for f in card["failures"]:
        print(f"{'NO SIGNER' if f['status'] == 'no_signer' else 'FAILED'} {f['error']}", file=sys.stderr)
    c = card["counts"]
    splits = ", ".join(f"{k} {v['videos']}" for k, v in card["splits"]["counts"].items())
    if not emit(args, {"output": args.output, "card": card}):
        print(f"dataset {card['name']}: {c['videos']} videos ({splits}), {c['frames']} frames, {c['labels']} "
              f"labels, {c['failed']} not included → {args.output}")
    return 1 if any(f["status"] == "failed" for f in card["failures"]) else 0


def _dataset_export(args) -> int:
    from signbridge.cli import emit
    from signbridge.extract.exports import write_kaggle, write_pose
    from signbridge.extract.io import read_landmarks

    table = read_landmarks(args.landmarks)
    out = (write_kaggle if args.format == "kaggle" else write_pose)(table, args.output)
    if not emit(args, {"output": str(out), "format": args.format}):
        print(f"wrote {out}")
    return 0
