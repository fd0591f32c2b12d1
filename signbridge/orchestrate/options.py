"""Stage option flags shared by ``signbridge process`` and ``signbridge run`` (each maps onto a setting)."""
from __future__ import annotations

import argparse

# flag dest -> DAG param of the same name (see dags/signbridge_videos.py)
STAGE_OPTIONS = ("fps", "max_side", "face", "chunk_seconds", "device", "min_confidence", "composer", "llm_model",
                 "tts", "tts_voice", "burn_captions", "original_audio", "language")


def add_stage_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("stage options (each overrides its SIGNBRIDGE_* variable)")
    g.add_argument("--fps", type=float, help="extract: frames per second sampled, 0 = every frame")
    g.add_argument("--max-side", dest="max_side", type=int, help="extract: longer frame side before MediaPipe")
    g.add_argument("--face", choices=("full", "reduced", "none"), help="extract: face landmarks kept")
    g.add_argument("--chunk-seconds", dest="chunk_seconds", type=float,
                   help="extract: videos longer than this are split into chunks (SIGNBRIDGE_CHUNK_SECONDS)")
    g.add_argument("--device", help="recognise: auto, cpu, cuda, cuda:N")
    g.add_argument("--min-confidence", dest="min_confidence", type=float, help="recognise: below this a sign is UNKNOWN")
    g.add_argument("--composer", choices=("rules", "local", "vllm"), help="compose: sentence backend")
    g.add_argument("--llm-model", dest="llm_model", help="compose: model for local/vllm")
    g.add_argument("--tts", choices=("piper", "espeak", "xtts"), help="speak: narration backend")
    g.add_argument("--voice", dest="tts_voice", help="speak: voice (piper .onnx, espeak name, XTTS clip)")
    g.add_argument("--burn-captions", dest="burn_captions", action="store_true", default=None,
                   help="mux: draw captions into the picture (re-encodes)")
    g.add_argument("--original-audio", dest="original_audio", choices=("track", "duck", "drop"),
                   help="mux: the video's own audio as a second track, ducked under the narration, or dropped")
    g.add_argument("--language", help="captions/narration language (ISO 639-2)")


def stage_options(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k) for k in STAGE_OPTIONS if getattr(args, k, None) is not None}
