"""``signbridge mux``: the video + narration + captions -> one MP4 (or WebM); optionally published to storage."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json

    p = sub.add_parser("mux", help="mux narration and captions into the video (stream copy)",
                       description="Mux the original video with a narration track and soft captions. With "
                                   "--transcript, the captions and narration are made from it first. With --publish, "
                                   "the results are uploaded to an s3:// prefix or folder.")
    add_common(p)
    p.add_argument("video")
    p.add_argument("-o", "--output", required=True,
                   help="output video (.mp4 or .webm); with --transcript, a folder for all result files")
    p.add_argument("--transcript", help="transcript.json: make captions + narration from it")
    p.add_argument("--gloss-track", help="gloss_track.json: marks low-confidence words in captions precisely")
    p.add_argument("--narration", help="narration .wav (from `signbridge speak`)")
    p.add_argument("--srt", help="captions .srt")
    p.add_argument("--vtt", help="captions .vtt")
    p.add_argument("--webm", action=argparse.BooleanOptionalAction, default=False,
                   help="with --transcript: write video.webm (VP9/Opus/WebVTT) instead of MP4")
    p.add_argument("--no-narration", dest="narration", action="store_const", const=False,
                   help="no narration: captions only (with --transcript, none is made)")
    p.add_argument("--burn-captions", dest="burn_captions", action=argparse.BooleanOptionalAction, default=None,
                   help="draw captions into the picture (re-encodes; SIGNBRIDGE_BURN_CAPTIONS)")
    p.add_argument("--original-audio", dest="original_audio", choices=["track", "duck", "drop"],
                   help="keep the video's audio as a 2nd track, duck it under the narration, or drop it "
                        "(SIGNBRIDGE_ORIGINAL_AUDIO)")
    p.add_argument("--tts", choices=["piper", "espeak", "xtts"], help="TTS backend (SIGNBRIDGE_TTS)")
    p.add_argument("--language", help="ISO 639-2 tag of captions and narration (SIGNBRIDGE_LANGUAGE)")
    p.add_argument("--publish", metavar="URI", help="upload the results under this s3://bucket/prefix or folder")
    add_json(p, "the files written (and, with --publish, their URIs)")
    p.set_defaults(func=_mux)


def _mux(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.mux import mux_video
    from signbridge.pipeline.layout import publish_files
    from signbridge.pipeline.render import render_outputs
    from signbridge.records import GlossTrack, Transcript

    settings = settings_from_args(args)
    if args.transcript:
        tr = Transcript.read(args.transcript)
        track = GlossTrack.read(args.gloss_track) if args.gloss_track else None
        files = render_outputs(args.video, tr, args.output, settings, track=track,
                               container="webm" if args.webm else "mp4", narration=args.narration is not False)
    else:
        out = mux_video(args.video, args.output, narration=args.narration or None, srt=args.srt, vtt=args.vtt,
                        settings=settings)
        files = {"video": out}
        for name, p in (("narration", args.narration or None), ("srt", args.srt), ("vtt", args.vtt)):
            if p:
                files[name] = Path(p)
    for name, p in files.items():
        print(f"{name}: {p}", file=sys.stderr)
    uris = None
    if args.publish:
        from signbridge.storage import open_store

        store = open_store(args.publish, settings, create=True)
        uris = publish_files(store, "", files)
        if not args.json:
            print(json.dumps(uris, indent=2))  # what it printed before --json existed
    emit(args, {"files": {k: str(v) for k, v in files.items()}, "published": uris})
    return 0
