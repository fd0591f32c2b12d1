"""A few frames of each sign span, decoded from the source video in memory when the VLM recogniser runs.

Landmarks are all a result folder keeps, so the frames a vision-language model looks at are read again from
the video the landmarks came from: one ffmpeg pass, frames scaled down in ffmpeg, each span's frames handed
on as soon as the stream has passed them, and every frame dropped after scoring; none is written. The
video must still be at its URI and be the same video (its SHA-256 is checked against the landmarks').
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from signbridge.errors import InputError


def frame_times(core_ms: np.ndarray, n: int) -> np.ndarray:
    """(S, n) times in ms: the centres of ``n`` equal parts of each span, so frames cover the whole sign."""
    core = np.asarray(core_ms, np.float64).reshape(-1, 2)
    f = (np.arange(n) + 0.5) / n
    return core[:, :1] + (core[:, 1:] - core[:, :1]) * f[None, :]


def _gone(uri: str) -> InputError:
    return InputError("the source video is not at its URI any more; the vlm recogniser reads each sign's frames "
                      "from it (only landmarks are kept)", source=uri,
                      hint="put the video back where it was extracted from, or run `signbridge run` on it where it "
                           "is now; --recognizer classifier needs only the landmarks")


@contextlib.contextmanager
def local_video(uri: str, settings, sha256: str | None = None) -> Iterator[Path]:
    """A local path of the video at ``uri`` (an ``s3://`` object is copied to a scratch folder, removed after),
    checked to be the video the landmarks were extracted from when ``sha256`` is known."""
    from signbridge.storage.keys import sha256_file

    tmp = None
    try:
        if uri.startswith("s3://"):
            from signbridge.storage import open_store
            from signbridge.storage.s3 import parse_s3_uri

            bucket, key = parse_s3_uri(uri)
            store = open_store(f"s3://{bucket}", settings)
            if not key or not store.exists(key):
                raise _gone(uri)
            base = Path(settings.home) / "tmp"
            base.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix="vlm-", dir=base))
            path = store.get_file(key, tmp / (Path(key).name or "video"))
        else:
            path = Path(uri.removeprefix("file://"))
            if not path.is_file():
                raise _gone(uri)
        if sha256 and sha256_file(path) != sha256:
            raise InputError("the video at this URI is not the one its landmarks were extracted from (its SHA-256 "
                             "differs), so the sign spans do not fit its frames", source=uri,
                             hint="extract it again (`signbridge run` on it), or put the original video back")
        yield path
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def span_frames(path: str | Path, times_ms: np.ndarray, side: int, source: str | None = None
                ) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(span index, frames)`` for each row of ``times_ms`` (S, n), in time order, from one decoding pass.

    Each time gets the decoded frame nearest to it (times are ms from the first frame, as in the landmarks).
    Frames are RGB uint8, the longer side at most ``side`` pixels (never upscaled).
    """
    from signbridge.extract.decode import DecodeReport, iter_frames, output_size
    from signbridge.extract.timeline import probe_video

    src = source or str(path)
    times = np.asarray(times_ms, np.float64)
    if times.size == 0:
        return
    try:
        info, tl = probe_video(str(path))
    except InputError as e:
        e.source = src
        raise
    w, h = output_size(info.width, info.height, side)
    order = np.argsort(times.ravel(), kind="stable")
    flat = times.ravel()[order]
    picked: dict[int, np.ndarray] = {}
    need = {s: times.shape[1] for s in range(times.shape[0])}
    k, prev = 0, None  # next target in time order; the previous frame (t_ms, rgb)
    report = DecodeReport()
    origin, tb = (tl.start_pts, float(tl.time_base)) if tl.n_frames else (None, 0.0)

    def assign(target: int, rgb: np.ndarray) -> Iterator[tuple[int, list[np.ndarray]]]:
        picked[int(order[target])] = rgb
        s = int(order[target]) // times.shape[1]
        need[s] -= 1
        if need[s] == 0:
            yield s, [picked.pop(s * times.shape[1] + j) for j in range(times.shape[1])]

    for pts, rgb in iter_frames(str(path), width=w, height=h, report=report):
        if origin is None:
            origin, tb = pts, float(report.time_base or 0.0)
        t = (pts - origin) * tb * 1000.0
        while k < flat.size and flat[k] <= t:
            best = prev[1] if prev is not None and flat[k] - prev[0] < t - flat[k] else rgb
            yield from assign(k, best)
            k += 1
        prev = (t, rgb)
    if prev is None:
        raise InputError("no frame could be decoded for the vlm recogniser", source=src,
                         hint="is the video complete? `ffprobe` on it says what ffmpeg reads")
    while k < flat.size:  # spans ending after the last decoded frame
        yield from assign(k, prev[1])
        k += 1

