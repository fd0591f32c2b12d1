"""One ffprobe per clip: ``timeline.probe_video`` must give exactly what ``require_video`` and
``read_timeline`` give separately, for real clips, odd ones made here, and broken files."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from signbridge.errors import InputError

# 12328: video + 2 data streams; 00338: video + audio; 01377: 23 frames
REAL = ("12328.mp4", "00338.mp4", "01377.mp4")


def ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def separate(path: Path):
    from signbridge.extract.timeline import read_timeline
    from signbridge.media import require_video

    return require_video(path), read_timeline(str(path))


def assert_same(path: Path) -> None:
    from signbridge.extract.timeline import probe_video

    (info, tl), (info0, tl0) = probe_video(str(path)), separate(path)
    assert info == info0
    assert tl.pts.dtype == tl0.pts.dtype and np.array_equal(tl.pts, tl0.pts)
    assert (tl.time_base, tl.format_start_s, tl.declared_duration_s) == \
        (tl0.time_base, tl0.format_start_s, tl0.declared_duration_s)


@pytest.mark.data
@pytest.mark.parametrize("name", REAL)
def test_combined_probe_equals_separate_calls_on_real_clips(shared_data, name):
    assert_same(shared_data / "wlasl_clips" / name)


@pytest.mark.data
@pytest.mark.slow
def test_combined_probe_equals_separate_calls_on_every_real_clip(shared_data):
    """All WLASL clips: audio, data streams, sizes 288x192 to 1920x1080, edit lists."""
    for clip in sorted((shared_data / "wlasl_clips").glob("*.mp4")):
        assert_same(clip)


def _made(kind: str, out: Path) -> Path:
    src = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=2", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=2"]
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if kind == "vfr":  # frames 30.. shown 0.5 s later, with audio interleaved
        ff(*src, "-vf", "setpts='(N+gte(N\\,30)*15)/(30*TB)'", "-fps_mode", "vfr", *x264, "-c:a", "aac",
           str(out))
    elif kind == "rotated_cover_art":  # display-matrix rotation, audio, a cover-art picture stream (stored last)
        art, plain = out.with_suffix(".png"), out.with_name("plain.mp4")
        ff("-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1", str(art))
        ff("-i", str(art), *src, "-map", "0", "-map", "1", "-map", "2", *x264, "-c:v:0", "mjpeg", "-c:a", "aac",
           "-disposition:v:0", "attached_pic", str(plain))
        ff("-i", str(plain), "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90", str(out))
    elif kind == "truncated":  # index at the start, media data cut: fewer packets than the header declares
        full = out.with_name("full.mp4")
        ff(*src, *x264, "-c:a", "aac", "-movflags", "+faststart", str(full))
        out.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif kind == "mkv":
        ff(*src, *x264, "-c:a", "libopus", str(out))
    else:  # raw h264: packets without timestamps
        ff(*src[:4], *x264, "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(out))
    return out


@pytest.mark.parametrize("kind,suffix", [("vfr", ".mp4"), ("rotated_cover_art", ".mp4"), ("truncated", ".mp4"),
                                         ("mkv", ".mkv"),
                                         ("h264", ".h264")])
def test_combined_probe_equals_separate_calls_on_made_clips(kind, suffix, tmp_path):
    from signbridge.extract.timeline import probe_video

    clip = _made(kind, tmp_path / f"clip{suffix}")
    assert_same(clip)
    info, tl = probe_video(str(clip))
    if kind == "vfr":
        assert info.has_audio and info.variable_frame_rate and tl.n_frames == 60
    if kind == "rotated_cover_art":
        assert info.rotation == 270 and (info.width, info.height) == (120, 160) and info.vcodec == "h264"
        assert tl.n_frames == 60  # the picture's one packet is not a frame of the video
    if kind == "truncated":
        assert 0 < tl.n_frames < 60 and tl.declared_duration_s == 2.0
    if kind == "h264":
        assert tl.n_frames == 0  # no pts: frames are sampled by decode order downstream


def _broken(kind: str, d: Path) -> Path:
    p = d / f"{kind}.mp4"
    if kind == "text":
        p.write_text("these are my notes, not a video\n")
    elif kind == "zero":
        p.write_bytes(b"")
    elif kind == "audio":
        ff("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(p))
    else:  # truncated with its index at the end
        full = d / "full.mp4"
        ff("-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=2", "-c:v", "libx264", "-preset",
           "ultrafast", str(full))
        p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return p


@pytest.mark.parametrize("kind", ["text", "zero", "audio", "truncated_moov"])
def test_combined_probe_fails_as_the_separate_calls_do(kind, tmp_path):
    from signbridge.extract.timeline import probe_video

    p = _broken(kind, tmp_path)
    with pytest.raises(InputError) as separate_err:
        separate(p)
    with pytest.raises(InputError) as combined_err:
        probe_video(str(p))
    assert str(combined_err.value) == str(separate_err.value)


def test_one_ffprobe_per_clip(tmp_path, monkeypatch):
    from signbridge.extract import timeline

    clip = _made("vfr", tmp_path / "clip.mp4")
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(timeline.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or real_run(cmd, **kw))
    timeline.probe_video(str(clip))
    assert len(calls) == 1 and Path(calls[0][0]).name == "ffprobe"
