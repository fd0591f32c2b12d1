"""ffprobe adapter shared by extraction and mux.

Turns ffprobe's output (or its failure) into a :class:`MediaInfo`, or into an
:class:`InputError` that names the file and says what is wrong, so a zero-byte
file or a text file named ``.mp4`` never surfaces as a JSON or ffmpeg traceback.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from signbridge.errors import InputError, SignBridgeError


@dataclass(frozen=True)
class MediaInfo:
    path: str
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0  # displayed size, after rotation
    height: int = 0
    coded_width: int = 0
    coded_height: int = 0
    rotation: int = 0  # degrees clockwise the picture must be turned for display
    fps: float = 0.0  # average frame rate
    r_fps: float = 0.0  # ffprobe's r_frame_rate (differs from fps for variable-frame-rate video)
    n_frames: int | None = None
    vcodec: str | None = None
    acodec: str | None = None
    container: str | None = None

    @property
    def variable_frame_rate(self) -> bool:
        return bool(self.fps and self.r_fps and abs(self.fps - self.r_fps) / self.r_fps > 0.01)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise SignBridgeError(f"`{name}` is not installed", hint="install Debian's ffmpeg package: apt-get install ffmpeg")
    return path


def _rate(s: str | None) -> float:
    try:
        f = Fraction(s or "0")
        return float(f) if f.denominator else 0.0
    except (ValueError, ZeroDivisionError):
        return 0.0


def _rotation(stream: dict) -> int:
    rot = 0
    tags = stream.get("tags") or {}
    if "rotate" in tags:
        try:
            rot = int(float(tags["rotate"]))
        except ValueError:
            rot = 0
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd:
            try:
                # display matrix rotation is counter-clockwise; express as clockwise like the legacy tag
                rot = -int(float(sd["rotation"]))
            except ValueError:
                pass
    return rot % 360


def checked_path(path: str | Path) -> Path:
    """The path, if it can hold a video at all: names a missing, folder or empty input before ffprobe runs."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(p))
    if p.is_dir():
        raise InputError("is a folder, not a video file", source=str(p))
    if p.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", source=str(p), hint="re-upload the video")
    return p


def media_info(path: str | Path) -> MediaInfo:
    """What ffprobe says of a media file. Raises InputError with a specific reason for unusable files."""
    p = checked_path(path)
    cmd = [require_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(p)]
    res = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if res.returncode != 0:
        first = next((ln for ln in res.stderr.splitlines() if ln.strip()), "ffprobe failed")
        first = re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", first)  # drop ffmpeg's "[demuxer @ address]"
        raise InputError(f"not a readable video: {first.replace(str(p), '').strip(': ').strip()}", source=str(p),
                         hint="is the file complete and a video format ffmpeg reads?")
    try:
        info = json.loads(res.stdout or "{}")
    except json.JSONDecodeError:
        raise InputError("ffprobe returned no usable information", source=str(p)) from None
    return parse_media_info(str(p), info)


def video_stream(streams: list[dict]) -> dict | None:
    """The stream a video is read from: the first video stream that is not cover art (ffprobe's ``V:0``)."""
    return next((s for s in streams if s.get("codec_type") == "video"
                 and not (s.get("disposition") or {}).get("attached_pic")), None)


def parse_media_info(path: str, info: dict) -> MediaInfo:
    """A :class:`MediaInfo` from ffprobe's JSON (``-show_format -show_streams``; extra sections are ignored)."""
    streams = info.get("streams") or []
    fmt = info.get("format") or {}
    v = video_stream(streams)
    a = next((s for s in streams if s.get("codec_type") == "audio"), None)
    try:
        duration = float(fmt.get("duration") or (v or {}).get("duration") or 0.0)
    except ValueError:
        duration = 0.0
    if v is None:
        return MediaInfo(path=path, duration_s=duration, has_video=False, has_audio=a is not None,
                         acodec=(a or {}).get("codec_name"), container=fmt.get("format_name"))
    cw, ch = int(v.get("width") or 0), int(v.get("height") or 0)
    rot = _rotation(v)
    w, h = (ch, cw) if rot in (90, 270) else (cw, ch)
    nb = v.get("nb_frames")
    return MediaInfo(
        path=path, duration_s=duration, has_video=True, has_audio=a is not None,
        width=w, height=h, coded_width=cw, coded_height=ch, rotation=rot,
        fps=_rate(v.get("avg_frame_rate")), r_fps=_rate(v.get("r_frame_rate")),
        n_frames=int(nb) if nb and str(nb).isdigit() else None,
        vcodec=v.get("codec_name"), acodec=(a or {}).get("codec_name"), container=fmt.get("format_name"),
    )


def require_video(path: str | Path) -> MediaInfo:
    """Probe and insist on a decodable video stream."""
    return check_video(media_info(path), path)


def check_video(info: MediaInfo, path: str | Path) -> MediaInfo:
    """``info`` if it has a decodable video stream, else the InputError that says what it lacks."""
    if not info.has_video:
        what = "an audio-only file" if info.has_audio else "a file with no video stream"
        raise InputError(f"{what}: there is no video to read signs from", source=str(path))
    if info.width <= 0 or info.height <= 0:
        raise InputError("video stream has no frame size (damaged file?)", source=str(path))
    return info
