"""The one render path: transcript -> captions (SRT, WebVTT) -> narration -> muxed video.

``signbridge run``/the DAG (split over the speak and mux tasks), ``signbridge mux --transcript`` and
the review's revise step all call these, so a transcript with no signing is handled in one place:
no captions, no narration, and the original video's streams copied.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Collection, Mapping

from signbridge.pipeline.layout import NARRATION, RESULT_FILES, TRANSCRIPT, VIDEO, VIDEO_WEBM
from signbridge.records import GlossTrack, Transcript
from signbridge.settings import Settings

log = logging.getLogger(__name__)


def render_speech(transcript: Transcript, settings: Settings, out_dir: Path, *, duration_ms: float,
                  track: GlossTrack | None = None, narration: bool = True,
                  skip: Collection[str] = ()) -> dict[str, Path]:
    """Captions and narration of one transcript into ``out_dir``; names in ``skip`` already exist.

    Nothing signed: no caption track and no narration (an empty dict)."""
    if transcript.no_signing:
        log.info("%s: no signing recognised; no captions or narration", transcript.source_uri)
        return {}
    from signbridge.captions import to_srt, to_vtt

    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, write in (("srt", to_srt), ("vtt", to_vtt)):
        if name not in skip:
            files[name] = out_dir / RESULT_FILES[name]
            files[name].write_text(write(transcript, settings, track=track, duration_ms=duration_ms),
                                   encoding="utf-8")
    if narration and "narration" not in skip:
        from signbridge.speech import narrate

        files["narration"] = narrate(transcript, duration_ms, settings, out_dir / NARRATION, track=track)
    return files


def render_video(video: str | Path, files: Mapping[str, Path], out: Path, settings: Settings) -> Path:
    """The original video with whatever narration and captions ``files`` holds."""
    from signbridge.mux import mux_video

    return mux_video(video, out, narration=files.get("narration"), srt=files.get("srt"), vtt=files.get("vtt"),
                     settings=settings)


def render_outputs(video: str | Path, transcript: Transcript, out_dir: str | Path, settings: Settings, *,
                   track: GlossTrack | None = None, container: str = "mp4", narration: bool = True,
                   duration_ms: float | None = None) -> dict[str, Path]:
    """Everything after composition into one local folder: transcript, captions, narration, video."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if duration_ms is None:
        from signbridge.media import require_video

        duration_ms = require_video(video).duration_s * 1000.0
    files: dict[str, Path] = {"transcript": out / TRANSCRIPT}
    files["transcript"].write_text(json.dumps(transcript.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    files.update(render_speech(transcript, settings, out, duration_ms=duration_ms, track=track, narration=narration))
    files["video"] = render_video(video, files, out / (VIDEO_WEBM if container == "webm" else VIDEO), settings)
    return files
