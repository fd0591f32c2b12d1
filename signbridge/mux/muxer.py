"""Mux narration, captions and the original video into one file with ffmpeg (through ffmpeg-python).

MP4 (default): the video stream is copied (no re-encode), the narration is the
default audio track, the original audio is kept as a second track, mixed under
the narration with sidechain ducking, or dropped; captions are soft ``mov_text``
subtitles with a language tag. ``burn`` draws the captions into the picture
(re-encode). ``.webm`` output uses VP9/Opus/WebVTT. An ffmpeg failure becomes a
:class:`SignBridgeError` carrying ffmpeg's own error line and the input's name.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from signbridge.errors import ConfigError, InputError, SignBridgeError
from signbridge.media import require_tool, require_video
from signbridge.settings import Settings

log = logging.getLogger(__name__)

MP4_SUFFIXES = (".mp4", ".m4v", ".mov")
WEBM_SUFFIXES = (".webm",)
_MP4_AUDIO_COPY = {"aac", "mp3", "alac", "ac3", "eac3"}
_WEBM_AUDIO_COPY = {"opus", "vorbis"}
_WEBM_VIDEO_COPY = {"vp8", "vp9", "av1"}
_GENERIC_FFMPEG_LINES = ("conversion failed", "error while processing", "exiting normally")


class MuxError(SignBridgeError):
    """ffmpeg refused to build the output."""


def ffmpeg_error_line(stderr: bytes | str | None) -> str:
    """ffmpeg's own most specific error line (not the generic 'Conversion failed!')."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    specific = [ln for ln in lines if not any(g in ln.lower() for g in _GENERIC_FFMPEG_LINES)]
    return (specific or lines or ["ffmpeg exited with an error and no message"])[-1]


def has_cues(path: str | Path | None) -> bool:
    """A caption file with at least one timed cue (an empty SRT/VTT means: no caption track)."""
    if not path:
        return False
    p = Path(path)
    if not p.is_file():
        raise InputError("caption file not found", source=str(p))
    return "-->" in p.read_text(encoding="utf-8", errors="replace")


def _container(out: Path) -> str:
    suf = out.suffix.lower()
    if suf in MP4_SUFFIXES:
        return "mp4"
    if suf in WEBM_SUFFIXES:
        return "webm"
    raise ConfigError(f"unsupported output type {suf or '(none)'!r}", source=str(out),
                      hint="name the output .mp4 (default) or .webm")


def mux_video(video: str | Path, out: str | Path, *, narration: str | Path | None = None,
              srt: str | Path | None = None, vtt: str | Path | None = None, settings: Settings,
              burn: bool | None = None, original_audio: str | None = None) -> Path:
    """Write ``out`` (.mp4 or .webm) from the video, the narration WAV and the captions.

    Long because it builds one ffmpeg command line, one option group after another."""
    import ffmpeg

    require_tool("ffmpeg")
    video, out = Path(video), Path(out)
    info = require_video(video)
    kind = _container(out)
    burn = settings.burn_captions if burn is None else burn
    mode = original_audio or settings.original_audio
    if mode not in ("track", "duck", "drop"):
        raise ConfigError(f"original audio mode {mode!r} is not one of track, duck, drop")
    if narration is not None and not Path(narration).is_file():
        raise InputError("narration file not found", source=str(narration))
    # captions: SRT for MP4 (-> mov_text), WebVTT for WebM; ffmpeg converts either way if only one is given
    subs = [p for p in ((srt, vtt) if kind == "mp4" else (vtt, srt)) if p is not None]
    sub = next((Path(p) for p in subs if has_cues(p)), None)
    lang = settings.language or "und"

    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.stem}.part{out.suffix}")
    with tempfile.TemporaryDirectory(prefix="sb-mux-") as tmp:
        vin = ffmpeg.input(str(video))
        streams: list[Any] = []
        opts: dict[str, Any] = {}
        # -- video
        v = vin["v:0"]
        if burn and sub is not None:
            safe = Path(tmp) / ("captions" + sub.suffix.lower())  # the subtitles filter parses its path: keep it plain
            shutil.copyfile(sub, safe)
            v = v.filter("subtitles", filename=str(safe), force_style="FontName=DejaVu Sans,FontSize=20,Outline=2")
            opts.update({"c:v": "libx264", "preset": "veryfast", "crf": 20, "pix_fmt": "yuv420p"} if kind == "mp4"
                        else {"c:v": "libvpx-vp9", "b:v": "0", "crf": 32, "deadline": "realtime", "cpu-used": 8})
        elif kind == "webm" and (info.vcodec or "") not in _WEBM_VIDEO_COPY:
            log.warning("%s: %s video cannot go into WebM unchanged; re-encoding to VP9 (slow)", video.name, info.vcodec)
            opts.update({"c:v": "libvpx-vp9", "b:v": "0", "crf": 32, "deadline": "realtime", "cpu-used": 8})
        else:
            opts["c:v"] = "copy"
        if opts["c:v"] != "copy":
            opts["fps_mode"] = "passthrough"  # re-encode every frame with its own timestamp (29.97, VFR)
        streams.append(v)
        # -- audio
        audio: list[tuple[Any, str, str, bool]] = []  # (stream, language, title, needs-encode)
        narr = ffmpeg.input(str(narration))["a:0"] if narration is not None else None
        orig = vin["a:0"] if info.has_audio and mode != "drop" else None
        if narr is not None and orig is not None and mode == "duck":
            fmt = {"sample_fmts": "fltp", "sample_rates": 48000, "channel_layouts": "stereo"}
            n = narr.filter("aformat", **fmt).filter_multi_output("asplit", 2)
            o = orig.filter("aformat", **fmt)
            ducked = ffmpeg.filter([o, n[0]], "sidechaincompress", threshold=0.02, ratio=8, attack=20, release=400)
            mix = ffmpeg.filter([ducked, n[1]], "amix", inputs=2, duration="first", normalize=0)
            audio.append((mix, lang, "Narration over original audio", True))
        else:
            if narr is not None:
                audio.append((narr, lang, "Narration", True))
            if orig is not None:
                copy_ok = (info.acodec or "") in (_MP4_AUDIO_COPY if kind == "mp4" else _WEBM_AUDIO_COPY)
                audio.append((orig, "und", "Original audio", not copy_ok))
        for k, (stream, alang, title, encode) in enumerate(audio):
            streams.append(stream)
            opts[f"c:a:{k}"] = ("aac" if kind == "mp4" else "libopus") if encode else "copy"
            if encode:
                opts[f"b:a:{k}"] = "96k"
                if kind == "mp4":
                    opts[f"aac_coder:a:{k}"] = "fast"  # 3x less CPU than the default for speech, same bitrate
            opts[f"metadata:s:a:{k}"] = f"language={alang}"
            opts[f"disposition:a:{k}"] = "default" if k == 0 else "0"
        # a second metadata key per stream cannot go through the kwargs dict; appended after compile()
        extra: list[str] = []
        for k, (_, _, title, _) in enumerate(audio):
            extra += [f"-metadata:s:a:{k}", f"title={title}"]
            if kind == "mp4":
                extra += [f"-metadata:s:a:{k}", f"handler_name={title}"]
        # -- captions
        if sub is not None and not burn:
            streams.append(ffmpeg.input(str(sub))["s:0"])
            opts["c:s"] = "mov_text" if kind == "mp4" else "webvtt"
            opts["metadata:s:s:0"] = f"language={lang}"
            opts["disposition:s:0"] = "default"
        if kind == "mp4":
            opts["movflags"] = "+faststart"
        opts["map_metadata"] = 0
        opts["fflags"] = "+bitexact"  # no build- or time-dependent fields: same inputs, same bytes
        opts["f"] = kind
        cmd = ffmpeg.output(*streams, str(part), **opts).global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        cmd = cmd.overwrite_output()
        argv = cmd.compile()
        at = argv.index(str(part))
        argv = argv[:at] + extra + argv[at:]
        log.debug("ffmpeg %s", " ".join(argv))
        _run(argv, video)
    part.replace(out)
    return out


def _run(argv: list[str], video: Path) -> None:
    import subprocess

    res = subprocess.run(argv, capture_output=True)
    if res.returncode != 0:
        raise MuxError(f"ffmpeg failed: {ffmpeg_error_line(res.stderr)}", source=video.name)
