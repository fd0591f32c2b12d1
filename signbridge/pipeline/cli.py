"""``signbridge run VIDEO -o OUT``: one video end to end, without Airflow (same steps as the DAG)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json
    from signbridge.orchestrate.options import add_stage_options

    p = sub.add_parser("run", help="one video end to end, without Airflow",
                       description="Extract, recognise, compose, caption, narrate and mux one video, writing the "
                                   "results under OUT/<sha256[:16]>-<settings hash>/ plus a run manifest and HTML "
                                   "report under OUT/runs/<run id>/. A rerun with the same video and settings "
                                   "skips finished work. Exits 1 if the video failed.")
    add_common(p)
    p.add_argument("video", help="video file or s3://bucket/key")
    p.add_argument("-o", "--output", required=True, help="results: a folder or s3://bucket/prefix")
    p.add_argument("--workers", type=int, help="extraction processes for long videos (SIGNBRIDGE_WORKERS)")
    add_json(p, "the run (its manifest and the URI of every output)")
    add_stage_options(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    import json
    import sys

    from signbridge.cli import emit, settings_from_args
    from signbridge.pipeline.report import summary_table, video_lines
    from signbridge.pipeline.run_video import run_video
    from signbridge.storage import open_store

    settings = settings_from_args(args)
    st, uris = run_video(args.video, settings, args.output, workers=args.workers,
                         on_stage=lambda s: print(f"... {s}", file=sys.stderr))
    doc = json.loads(open_store(uris["manifest"].rsplit("/", 1)[0], settings).get_bytes("manifest.json"))
    rc = 1 if st.status == "failed" else 0
    if emit(args, {"status": st.status, "manifest": doc, "uris": uris}):
        return rc
    print("\n".join(video_lines(doc["videos"][0])))
    print()
    print(summary_table(doc))
    print()
    for k, v in uris.items():
        print(f"{k + ':':<10}{v}")
    return rc
