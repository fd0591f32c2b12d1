"""Live capture: an ffmpeg child turns the source into small RGB frames on a pipe; only the newest is kept.

Latest frame wins: a reader thread drains the pipe as fast as ffmpeg writes and keeps one frame; when
landmarks fall behind, the frame not yet taken is replaced (and counted as dropped), never queued, so the
delay between the picture and its landmarks cannot grow. ffmpeg passes every frame on with its timestamp
(``showinfo``); a frame's media time is its timestamp from the stream's first frame, and the rate is brought
down to ``fps`` here, by the batch sampling rule. Frames live in memory only; nothing is written.
"""
from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue

import numpy as np

from signbridge.errors import InputError
from signbridge.extract.timeline import sample_bin
from signbridge.media import require_tool

_OUT_SIZE = re.compile(r"Video: rawvideo.*?, (\d{2,5})x(\d{2,5})")
_PTS_TIME = re.compile(r"\] n:\s*\d+\s+pts:\s*-?\d+\s+pts_time:\s*(-?[\d.]+)")
NETWORK = ("udp://", "tcp://", "rtsp://", "rtsps://", "rtp://", "srt://", "http://", "https://", "rtmp://")


IDLE = object()  # next_frame: no frame yet, the stream is not over


class LiveError(InputError):
    """The live source cannot be opened, or stopped sending video."""


@dataclass
class Frame:
    index: int  # position among the frames ffmpeg delivered
    media_s: float  # seconds from the stream's first frame (its timestamp)
    rgb: np.ndarray  # (height, width, 3) uint8
    arrived: float  # time.time() when the last byte of it came off the pipe


def source_kind(source: str, realtime: bool) -> str:
    """``device``, ``stream`` or ``file``; one clear error for a source live cannot use."""
    if source.startswith("/dev/video"):
        if not Path(source).exists():
            raise LiveError("no such video device", source=source, hint="list cameras with `v4l2-ctl --list-devices`")
        return "device"
    if source.lower().startswith(NETWORK):
        return "stream"
    if "://" in source:
        raise LiveError("not a stream address ffmpeg reads here", source=source,
                        hint="use udp://, tcp://, rtsp://, http(s)://, a /dev/video device or a file with --realtime")
    if not Path(source).is_file():
        raise LiveError("no such file, device or stream address", source=source,
                        hint="give /dev/videoN, a udp:// tcp:// rtsp:// http:// address, or a video file with --realtime")
    if not realtime:
        raise LiveError("a file is read faster than real time, so live would drop almost every frame",
                        source=source, hint="add --realtime to play it at its own pace, or use `signbridge run` for batch")
    return "file"


def ffmpeg_command(source: str, kind: str, fps: float, max_side: int) -> list[str]:
    """Decode ``source`` to rgb24 frames at ``fps``, the longer side at most ``max_side`` (never upscaled)."""
    cmd = [require_tool("ffmpeg"), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info"]
    if kind == "device":
        cmd += ["-f", "v4l2"]
    elif kind == "stream":  # start from the first frames ffmpeg sees, without seconds of probing
        cmd += ["-probesize", "32", "-analyzeduration", "0"]
    else:
        cmd += ["-re"]
    cmd += ["-threads", "1"]  # frame-threaded decoding holds frames back (≈ 70 ms measured on 2 cores)
    side = int(max_side) - int(max_side) % 2
    scale = (f"scale='if(gte(iw,ih),trunc(min({side},iw)/2)*2,-2)':'if(gte(iw,ih),-2,trunc(min({side},ih)/2)*2)'"
             ":flags=area")
    # every frame with its timestamp (showinfo); the rate is brought down to ``fps`` here, not by ffmpeg's fps
    # filter, which holds each frame until it has seen the next (+68 ms at 15 fps, measured)
    return cmd + ["-i", source, "-map", "0:V:0", "-an", "-sn", "-dn", "-vf", f"{scale},showinfo=checksum=0",
                  "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Capture:
    """The ffmpeg child, its two reader threads and the one kept frame.

    Long-lived: ``start``, then ``next_frame`` until it returns None (the source ended), then ``close``
    (always; it kills ffmpeg by PID). ``timeout_s`` without a frame, at the start or later, raises
    :class:`LiveError` with what ffmpeg last said.
    """

    def __init__(self, source: str, *, fps: float = 15.0, max_side: int = 480, realtime: bool = False,
                 timeout_s: float = 15.0):
        self.source, self.fps, self.timeout_s = source, float(fps), float(timeout_s)
        self.kind = source_kind(source, realtime)
        self.cmd = ffmpeg_command(source, self.kind, self.fps, max_side)
        self.size: tuple[int, int] | None = None  # (width, height) once ffmpeg configured its output
        self.received = 0  # frames kept at the live rate (fps)
        self.dropped = 0  # frames replaced before landmarks took them
        self.proc: subprocess.Popen | None = None
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._eof = False
        self._pipe_done = False  # the frame reader reached the end of the pipe
        self._last = time.monotonic()  # when the last frame was taken (or the capture started)
        self._pts: Queue[float] = Queue()  # frame timestamps from showinfo, in order
        self.delivered = 0  # frames ffmpeg delivered (before the rate is brought down to fps)
        self._first_pts: float | None = None
        self._last_bin: int | None = None
        self._last_media = -1.0
        self._tail: deque[str] = deque(maxlen=12)
        self._threads: list[threading.Thread] = []

    def start(self) -> "Capture":
        self._last = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0, preexec_fn=_die_with_parent)
        for fn, name in ((self._read_stderr, "live-ffmpeg-log"), (self._read_frames, "live-capture")):
            t = threading.Thread(target=fn, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        out_section = False
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith("Output #0"):
                out_section = True
            t = _PTS_TIME.search(line)
            if t:
                self._pts.put(float(t.group(1)))
                continue
            if "Parsed_showinfo" in line:
                continue
            m = _OUT_SIZE.search(line) if out_section and self.size is None else None
            if m:
                with self._cond:
                    self.size = (int(m.group(1)), int(m.group(2)))
                    self._cond.notify_all()
            elif line.strip():
                self._tail.append(line.strip())
        with self._cond:
            self._eof = True  # ffmpeg closed its log: it is exiting (the frame reader may still drain the pipe)
            self._cond.notify_all()

    def _read_frames(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self._cond:
            while self.size is None and not self._eof:
                self._cond.wait(0.5)
            size = self.size
        if size is not None:
            w, h = size
            n = w * h * 3
            pipe = self.proc.stdout
            while True:
                buf = bytearray(n)
                view, got = memoryview(buf), 0
                while got < n:
                    k = pipe.readinto(view[got:])
                    if not k:
                        break
                    got += k
                if got < n:
                    break
                arrived = time.time()
                media_s = self._media_time()
                if media_s is None:
                    continue  # within the same 1/fps step as the last frame kept
                frame = Frame(self.delivered - 1, media_s, np.frombuffer(buf, np.uint8).reshape(h, w, 3), arrived)
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = frame
                    self.received += 1
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._pipe_done = True
            self._cond.notify_all()

    def _media_time(self) -> float | None:
        """This frame's seconds from the first frame, or None when it falls in the 1/fps step of the last one kept
        (the rule batch sampling uses, :func:`~signbridge.extract.timeline.sample_bin`)."""
        try:
            pts = self._pts.get(timeout=10)
        except Empty:
            pts = None
        self.delivered += 1
        if self._first_pts is None:
            self._first_pts = pts if pts is not None else 0.0
        media = (pts - self._first_pts) if pts is not None else self.delivered / self.fps
        media = max(media, self._last_media + 1e-3)  # timestamps that jump back (a restarted sender) move on
        b = int(sample_bin(media, self.fps))
        if self._last_bin is not None and b <= self._last_bin:
            return None
        self._last_bin, self._last_media = b, media
        return media

    def next_frame(self, idle_s: float | None = None) -> Frame | None | object:
        """The newest frame not yet taken (waits for one); None when the source ended normally; ``IDLE`` when
        ``idle_s`` passed without one (the stream may only be pausing: call again). ``timeout_s`` after the
        last frame (or the start) raises :class:`LiveError`."""
        wait_until = time.monotonic() + idle_s if idle_s else float("inf")
        with self._cond:
            while self._latest is None and not self._pipe_done:
                now = time.monotonic()
                if now - self._last >= self.timeout_s:
                    raise self._stalled()
                if now >= wait_until:
                    return IDLE
                self._cond.wait(min(self._last + self.timeout_s - now, wait_until - now, 0.5))
            frame, self._latest = self._latest, None
        if frame is not None:
            self._last = time.monotonic()
            return frame
        return self._ended()

    def _stalled(self) -> LiveError:
        said = f" (ffmpeg: {self._tail[-1]})" if self._tail else ""
        if self.received == 0:
            return LiveError(f"no video arrived within {self.timeout_s:g} s{said}", source=self.source,
                             hint="check that the sender is running and sends to this address")
        return LiveError(f"the stream stopped: no video for {self.timeout_s:g} s after "
                         f"{max(self._last_media, 0.0):.1f} s of stream{said}", source=self.source,
                         hint="check the sender; captions so far were kept")

    def _ended(self) -> None:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        said = self._tail[-1] if self._tail else "no error output"
        if self.received == 0:
            raise LiveError(f"cannot open the source (ffmpeg: {said})", source=self.source,
                            hint="check the address, device or file, and that ffmpeg can read it")
        if rc not in (0, None) and rc != -signal.SIGKILL:
            raise LiveError(f"the stream broke off after {max(self._last_media, 0.0):.1f} s (ffmpeg: {said})",
                            source=self.source, hint="check the sender; captions so far were kept")
        return None

    def close(self) -> None:
        """Stop ffmpeg (by PID) and the reader threads."""
        p = self.proc
        if p is not None and p.poll() is None:
            p.kill()
        if p is not None:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for t in self._threads:
            t.join(timeout=5)
        for f in (p.stdout, p.stderr) if p is not None else ():
            if f:
                f.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> "Capture":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

