"""Everything a video's result folder holds, built in one call, and published to object storage.

``render_outputs`` is what ``signbridge mux --transcript``, ``signbridge run`` and
the DAG call after composition: transcript.json, captions (.srt, .vtt),
narration (.wav) and the muxed video. A transcript with no signing yields the
original video (streams copied) with no narration and no caption track.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from signbridge.records import GlossTrack, Transcript
from signbridge.settings import Settings

log = logging.getLogger(__name__)

# file names inside a result folder; the orchestration code and the docs use the same names
VIDEO_MP4 = "video.mp4"
VIDEO_WEBM = "video.webm"
SRT = "captions.srt"
VTT = "captions.vtt"
NARRATION = "narration.wav"
TRANSCRIPT = "transcript.json"

_CONTENT_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".srt": "application/x-subrip", ".vtt": "text/vtt",
                  ".wav": "audio/wav", ".json": "application/json"}


def render_outputs(video: str | Path, transcript: Transcript, out_dir: str | Path, settings: Settings, *,
                   track: GlossTrack | None = None, container: str = "mp4", narration: bool = True,
                   duration_ms: float | None = None) -> dict[str, Path]:
    """Write transcript, captions, narration and the muxed video into ``out_dir``; returns name -> path."""
    from signbridge.captions import to_srt, to_vtt
    from signbridge.media import require_video
    from signbridge.mux import mux_video
    from signbridge.speech import narrate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if duration_ms is None:
        duration_ms = require_video(video).duration_s * 1000.0
    files: dict[str, Path] = {}
    tpath = out / TRANSCRIPT
    tpath.write_text(json.dumps(transcript.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files["transcript"] = tpath
    srt = vtt = wav = None
    if transcript.no_signing:
        log.info("%s: no signing recognised; the output is the original video without narration or captions",
                 Path(video).name)
    else:
        srt = out / SRT
        srt.write_text(to_srt(transcript, settings, track=track, duration_ms=duration_ms), encoding="utf-8")
        vtt = out / VTT
        vtt.write_text(to_vtt(transcript, settings, track=track, duration_ms=duration_ms), encoding="utf-8")
        files["srt"], files["vtt"] = srt, vtt
        if narration:
            wav = narrate(transcript, duration_ms, settings, out / NARRATION, track=track)
            files["narration"] = wav
    name = VIDEO_WEBM if container == "webm" else VIDEO_MP4
    files["video"] = mux_video(video, out / name, narration=wav, srt=srt, vtt=vtt, settings=settings)
    return files


def publish_outputs(store, prefix: str, files: dict[str, str | Path]) -> dict[str, str]:
    """Upload ``files`` (name -> local path) under ``prefix`` of a Store; returns name -> URI.

    Objects keep their file names (``video.mp4``, ``captions.srt`` ...), so a result
    folder looks the same locally and in the bucket.
    """
    from signbridge.storage import join_key

    uris: dict[str, str] = {}
    for name, path in files.items():
        p = Path(path)
        key = join_key(prefix, p.name) if prefix else p.name
        uris[name] = store.put_file(key, p, content_type=_CONTENT_TYPES.get(p.suffix.lower()))
    return uris
