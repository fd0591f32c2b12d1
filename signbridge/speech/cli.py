"""``signbridge speak``: a transcript -> one narration WAV as long as the video."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json, hidden_alias

    p = sub.add_parser("speak", help="narrate a transcript (TTS) into a WAV as long as the video",
                       description="Synthesise each sentence of a transcript and place it at its caption cue's start; "
                                   "it ends within 1 s of the end of its signing (sped up to 1.3x, then spoken cue "
                                   "by cue, then cut); narrations never overlap.")
    add_common(p)
    p.add_argument("transcript", metavar="TRANSCRIPT.json")
    p.add_argument("-o", "--output", required=True, help="output .wav")
    p.add_argument("--gloss-track", help="gloss_track.json: time speech to the same cues as the captions")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--video", help="the video the transcript belongs to (its duration sets the WAV length)")
    g.add_argument("--duration-ms", type=float, help="length of the narration in milliseconds")
    p.add_argument("--tts", choices=["piper", "espeak", "xtts"], help="TTS backend (SIGNBRIDGE_TTS)")
    p.add_argument("--voice", dest="tts_voice", help="voice: a piper .onnx, an espeak voice name or an XTTS "
                                                     "reference clip (SIGNBRIDGE_TTS_VOICE)")
    hidden_alias(p, "--tts-voice", "tts_voice")  # deprecated: --voice, as in `run` and `process`
    p.add_argument("--xtts-model-dir", dest="xtts_model_dir", help="XTTS-v2 folder (SIGNBRIDGE_XTTS_MODEL_DIR)")
    add_json(p, "the narration: file, length and how each piece was placed")
    p.set_defaults(func=_speak)


def _speak(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.media import require_video
    from signbridge.records import Transcript
    from signbridge.speech import narrate_detailed

    settings = settings_from_args(args)
    tr = Transcript.read(args.transcript)
    dur = args.duration_ms if args.duration_ms is not None else require_video(args.video).duration_s * 1000.0
    track = None
    if args.gloss_track:
        from signbridge.records import GlossTrack

        track = GlossTrack.read(args.gloss_track)
    res = narrate_detailed(tr, dur, settings, args.output, track=track)
    split = len({p.sentence for p in res.placements if p.part})
    faster = sum(1 for p in res.placements if p.speed > 1.0)
    cut = sum(1 for p in res.placements if p.truncated)
    print(f"{res.path}: {res.duration_ms / 1000:.2f} s, {len(res.placements)} piece(s) "
          f"({faster} sped up, {split} sentence(s) spoken cue by cue, {cut} cut), {res.backend or 'silence'}",
          file=sys.stderr)
    emit(args, {"output": str(res.path), "duration_ms": res.duration_ms, "backend": res.backend,
                "pieces": len(res.placements), "sped_up": faster, "spoken_cue_by_cue": split, "cut": cut})
    return 0
