"""Stream RGB frames out of an ffmpeg subprocess, one at a time, with their real timestamps.

ffmpeg does the work it is good at (any container/codec, autorotation of phone
video, downscaling, frame selection); Python only ever holds the frame being
processed, so memory does not grow with video length. ``showinfo`` reports each
delivered frame's pts, which the timeline turns into a source frame index.
"""
from __future__ import annotations

import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from queue import Empty, Queue
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

import numpy as np

from signbridge.errors import InputError
from signbridge.media import require_tool

_PTS = re.compile(r"\] n:\s*\d+\s+pts:\s*(-?\d+)\s+pts_time")
_TB = re.compile(r"config in time_base:\s*(\d+)/(\d+)")
# stderr lines that mean the data itself is damaged (ffmpeg often still exits 0 on these)
_DAMAGE = re.compile(r"partial file|invalid data found|error while decoding|corrupt|truncat|moov atom not found"
                     r"|invalid nal|missing picture|concealing|no frame", re.I)


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Displayed size scaled so the longer side is at most ``max_side`` (never upscaled), even dims."""
    longest = max(width, height)
    if longest <= max_side:
        w, h = width, height
    else:
        s = max_side / longest
        w, h = max(2, round(width * s)), max(2, round(height * s))
    return w - (w % 2), h - (h % 2)


@dataclass
class DecodeReport:
    """What the decoder said, for turning failures into a specific InputError."""

    returncode: int | None = None
    frames: int = 0
    damage: list[str] | None = None
    stopped_early: bool = False  # we terminated it at the chunk boundary
    time_base: Fraction | None = None
    tail: list[str] | None = None


def _widen_pipe(pipe: Any, frame_bytes: int) -> None:
    """Room for a whole frame in the pipe where Linux allows it: a frame is then read in one or two calls instead
    of sixteen 64 KiB ones, and each call is a turn of the GIL the GPU pool's loops wait for."""
    op = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if op is None or pipe is None:
        return
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            cap = int(f.read())
    except (OSError, ValueError):
        cap = 1 << 20
    try:
        fcntl.fcntl(pipe.fileno(), op, min(cap, max(frame_bytes, 1 << 16)))
    except OSError:  # over the user's pipe quota: the default size still works
        pass


def iter_frames(path: str, *, width: int, height: int, select: str | None = None, seek_s: float | None = None,
                stop_pts: int | None = None, report: DecodeReport | None = None,
                threads: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(pts, rgb uint8 array [height, width, 3])`` in presentation order.

    Long because the ffmpeg process, its reader thread and their clean-up belong to one generator.

    ``select`` is an ffmpeg select expression (frame sampling); ``seek_s`` an input seek
    (timestamps stay absolute thanks to ``-copyts``); decoding stops once a frame at or
    after ``stop_pts`` arrives (that frame is not yielded).
    """
    report = report if report is not None else DecodeReport()
    filters = []
    if select:
        filters.append(f"select='{select}'")
    filters.append(f"scale={width}:{height}:flags=area")
    filters.append("showinfo=checksum=0")
    cmd = [require_tool("ffmpeg"), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info", "-copyts"]
    if threads:
        cmd += ["-threads", str(threads)]
    if seek_s:
        cmd += ["-ss", f"{seek_s:.6f}"]
    cmd += ["-i", path, "-map", "0:V:0", "-an", "-sn", "-dn", "-vf", ",".join(filters),
            "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    _widen_pipe(proc.stdout, width * height * 3)
    pts_q: Queue[int | None] = Queue()
    tail: deque[str] = deque(maxlen=20)
    damage: list[str] = []

    def _read_stderr() -> None:
        assert proc.stderr is not None
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            m = _PTS.search(line)
            if m:
                pts_q.put(int(m.group(1)))
                continue
            if report.time_base is None:
                t = _TB.search(line)
                if t:
                    report.time_base = Fraction(int(t.group(1)), int(t.group(2)))
                    continue
            if "Parsed_showinfo" in line:
                continue
            tail.append(line)
            if _DAMAGE.search(line) and len(damage) < 5:
                damage.append(line.replace(path, "<file>"))
        pts_q.put(None)

    reader = threading.Thread(target=_read_stderr, daemon=True)
    reader.start()
    size = width * height * 3
    eof = False
    try:
        assert proc.stdout is not None
        while True:
            buf = bytearray(size)
            view = memoryview(buf)
            got = 0
            while got < size:
                n = proc.stdout.readinto(view[got:])
                if not n:
                    break
                got += n
            if got < size:
                eof = True  # end of stream (a partial frame is a damaged tail; the report says so)
                break
            try:
                pts = pts_q.get(timeout=60)
            except Empty:
                pts = None
            if pts is None:
                raise InputError("ffmpeg delivered a frame without a timestamp", source=path)
            if stop_pts is not None and pts >= stop_pts:
                report.stopped_early = True
                break
            report.frames += 1
            yield pts, np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3)
    finally:
        if proc.poll() is None:
            if eof:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            else:  # we stopped at a chunk boundary, or the consumer gave up: stop ffmpeg now
                proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        reader.join(timeout=5)
        if proc.stderr:
            proc.stderr.close()
        report.returncode = proc.returncode
        report.damage = damage
        report.tail = list(tail)
