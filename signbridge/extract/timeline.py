"""The video's frame timeline and the plan of which frames to sample, in which chunks.

The timeline comes from ffprobe's packet list (demuxing only, no decoding), so it
costs milliseconds even for long videos. It gives every frame's presentation
timestamp in stream ticks: that is what makes ``frame`` a real index into the
decoded source, ``timestamp_ms`` a real time for variable-frame-rate video, and
lets parallel chunks agree on exactly which frames each one owns.
"""
from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from signbridge.errors import InputError
from signbridge.media import (MediaInfo, check_video, checked_path, parse_media_info, require_tool, require_video,
                              video_stream)

# ffmpeg's select filter takes the first frame of every 1/fps bin. Bin edges are moved 2 ms
# earlier so a frame that lands on an edge (2/30 s at 15 fps) does not fall into the bin before
# through timestamp rounding (Matroska stores whole milliseconds: 133 ms for 2/15 s).
EDGE_TOLERANCE_S = 0.002


def sample_bin(t_s, fps: float):
    """Index of the 1/fps bin a time (seconds from the stream start) falls in."""
    return np.floor((t_s + EDGE_TOLERANCE_S) * fps)


@dataclass(frozen=True)
class Timeline:
    """Presentation timestamps (stream ticks, sorted) of every frame the decoder outputs."""

    pts: np.ndarray  # int64, ascending
    time_base: Fraction
    format_start_s: float = 0.0  # container start_time; input seeking is relative to it
    declared_duration_s: float = 0.0  # what the stream header claims (a truncated file has fewer packets)

    @property
    def n_frames(self) -> int:
        return int(self.pts.size)

    @property
    def start_pts(self) -> int:
        return int(self.pts[0])

    @property
    def start_s(self) -> float:
        return float(self.start_pts * self.time_base)

    @property
    def duration_s(self) -> float:
        if self.n_frames < 2:
            return 0.0
        return float((int(self.pts[-1]) - self.start_pts) * self.time_base)

    def seconds(self, pts: int | np.ndarray) -> float | np.ndarray:
        """Absolute stream time of ``pts`` in seconds."""
        return pts * float(self.time_base)

    def relative_ms(self, pts: np.ndarray) -> np.ndarray:
        """Milliseconds from the first frame: what a player shows as the frame's time."""
        return (np.asarray(pts, dtype=np.int64) - self.start_pts) * (float(self.time_base) * 1000.0)

    def index_of(self, pts: np.ndarray) -> np.ndarray:
        """Index in the decoded source of each pts (exact match, else the nearest frame)."""
        pts = np.asarray(pts, dtype=np.int64)
        i = np.searchsorted(self.pts, pts)
        i = np.clip(i, 0, self.n_frames - 1)
        prev = np.clip(i - 1, 0, self.n_frames - 1)
        closer_prev = np.abs(self.pts[prev] - pts) < np.abs(self.pts[i] - pts)
        return np.where(closer_prev, prev, i)

    def sample_mask(self, fps: float) -> np.ndarray:
        """Which frames the sampling at ``fps`` keeps (same rule as :func:`select_expr`)."""
        if fps <= 0:
            return np.ones(self.n_frames, dtype=bool)
        bins = sample_bin((self.pts - self.start_pts) * float(self.time_base), fps)
        keep = np.ones(self.n_frames, dtype=bool)
        keep[1:] = bins[1:] > bins[:-1]
        return keep


def select_expr(fps: float, start_s: float) -> str:
    """ffmpeg ``select`` expression: first frame of every 1/fps bin, bins anchored at the stream start.

    Anchored bins (not "fps" resampling) keep real frames with their real timestamps and
    make the choice independent of where a chunk starts, so chunks merge without gaps.
    """
    b = f"floor((t-{start_s!r}+{EDGE_TOLERANCE_S!r})*{fps!r})"
    pb = f"floor((prev_selected_t-{start_s!r}+{EDGE_TOLERANCE_S!r})*{fps!r})"
    return f"isnan(prev_selected_t)+gt({b}\\,{pb})"


def read_timeline(path: str) -> Timeline:
    """Frame timestamps from the packet index. InputError if the file has no usable video packets."""
    cmd = [require_tool("ffprobe"), "-v", "error", "-select_streams", "V:0",
           "-show_entries", "stream=time_base,duration:packet=pts,flags:format=start_time,duration", "-of", "json", path]
    res = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if res.returncode != 0:
        first = next((ln for ln in res.stderr.splitlines() if ln.strip()), "ffprobe failed")
        raise InputError(f"cannot read the frame index: {first.replace(path, '').strip(': ').strip()}", source=path,
                         hint="is the file complete?")
    try:
        info = json.loads(res.stdout or "{}")
    except json.JSONDecodeError:
        raise InputError("ffprobe returned an unreadable frame index", source=path) from None
    streams = info.get("streams") or []
    return parse_timeline(path, streams[0] if streams else None, info.get("format") or {}, info.get("packets") or [])


def probe_video(path: str) -> tuple[MediaInfo, Timeline]:
    """:func:`require_video` and :func:`read_timeline` from one ffprobe process instead of two.

    An ffprobe start costs ≈ 0.08 CPU-s, as much as a short clip's whole packet list, so this halves the
    probing of every clip. If that ffprobe fails, the two separate calls run so that a bad file gets
    exactly the message it always got (which of the two failed says what is wrong).
    """
    p = str(checked_path(path))
    cmd = [require_tool("ffprobe"), "-v", "error", "-of", "json", "-show_format", "-show_streams",
           "-show_entries", "packet=stream_index,pts,flags", p]
    res = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    try:
        info = json.loads(res.stdout or "{}") if res.returncode == 0 else None
    except json.JSONDecodeError:
        info = None
    if info is None:
        return require_video(p), read_timeline(p)
    media = check_video(parse_media_info(p, info), p)
    v = video_stream(info.get("streams") or [])
    packets = [k for k in info.get("packets") or [] if k.get("stream_index") == v.get("index")]
    return media, parse_timeline(p, v, info.get("format") or {}, packets)


def parse_timeline(path: str, stream: dict | None, fmt: dict, packets: list[dict]) -> Timeline:
    """A :class:`Timeline` from ffprobe's JSON of the video stream, the format and that stream's packets."""
    tb = Fraction(stream.get("time_base", "1/1000")) if stream is not None else Fraction(1, 1000)
    fstart = _float(fmt.get("start_time"))
    declared = _float((stream or {}).get("duration")) or _float(fmt.get("duration"))
    pts = []
    missing = 0
    for p in packets:
        if "D" in (p.get("flags") or ""):
            continue  # discarded by the decoder (edit list pre-roll)
        v = p.get("pts")
        if v is None or v == "N/A":
            missing += 1
            continue
        pts.append(int(v))
    if not pts:
        if missing:
            return Timeline(pts=np.zeros(0, dtype=np.int64), time_base=tb, format_start_s=fstart,
                            declared_duration_s=declared)
        raise InputError("the video stream has no frames", source=path, hint="is the file complete?")
    arr = np.unique(np.asarray(pts, dtype=np.int64))  # sorted presentation order; drops duplicate pts
    return Timeline(pts=arr, time_base=tb, format_start_s=fstart, declared_duration_s=declared)


def _float(v) -> float:
    try:
        return float(v) if v not in (None, "N/A") else 0.0
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Chunk:
    """A run of source frames ``[first, stop)`` one worker owns, read from ``seek_s`` for warm-up."""

    index: int
    first: int  # first owned frame (timeline index)
    stop: int  # one past the last owned frame
    seek_s: float | None  # value for ffmpeg -ss (None: read from the start)
    start_pts: int  # pts of `first`
    stop_pts: int | None  # pts of `stop` (None: to the end)


def plan_chunks(tl: Timeline, workers: int, *, chunk_s: float | None = None, min_chunk_s: float = 8.0,
                max_chunk_s: float = 60.0, warmup_s: float = 1.0) -> list[Chunk]:
    """Split the timeline into chunks for ``workers`` processes.

    Short videos stay one chunk (worker start-up and warm-up would cost more than they
    save). Otherwise at least one chunk per worker, at most ``max_chunk_s`` long so the
    slowest chunk does not dominate. Every chunk after the first also runs ``warmup_s``
    before its first owned frame, so the first chunk owns that much more: each worker
    then processes the same length of video and none waits for the last. ``chunk_s``
    forces a chunk length (tests, tuning).
    """
    n = tl.n_frames
    dur = tl.duration_s
    if n == 0:
        return [Chunk(0, 0, 0, None, 0, None)]
    if chunk_s:
        k = max(1, math.ceil(dur / chunk_s)) if dur > 0 else 1
    elif workers <= 1 or dur < 2 * min_chunk_s:
        k = 1
    else:
        k = max(workers, math.ceil(dur / max_chunk_s))
        k = min(k, max(1, int(dur // min_chunk_s)))
    t = (tl.pts - tl.start_pts) * float(tl.time_base)
    lead = 0.0 if chunk_s or k == 1 else min(warmup_s, dur / k)  # the first chunk's extra owned seconds
    bounds = [0] + [int(np.searchsorted(t, lead + (dur - lead) * i / k)) for i in range(1, k)] + [n]
    bounds = sorted(set(bounds))
    chunks = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        if a == 0:
            seek = None
        else:
            # -ss is relative to the container start; land warmup_s before the first owned frame
            seek = max(0.0, float(tl.pts[a] * tl.time_base) - warmup_s - tl.format_start_s)
        chunks.append(Chunk(i, a, b, seek, int(tl.pts[a]), int(tl.pts[b]) if b < n else None))
    return chunks
