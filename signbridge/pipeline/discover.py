"""What a run has to do: its input videos, which of them an earlier run finished, and how long each is."""
from __future__ import annotations

import json
import logging
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from signbridge.errors import InputError
from signbridge.pipeline.context import Context
from signbridge.pipeline.results_index import remember_failure
from signbridge.pipeline.state import VideoState
from signbridge.settings import Settings

log = logging.getLogger(__name__)


def list_inputs(inputs: Sequence[str], settings: Settings) -> tuple[list[VideoState], list[VideoState]]:
    """Expand files, folders and ``s3://`` prefixes into states. Returns (videos, failed inputs)."""
    from signbridge.storage.inputs import find_videos

    videos, bad_inputs = find_videos(inputs, settings)
    found = [VideoState(v.uri, size=v.size, etag=v.etag) for v in videos]
    attach_hints(found, [v.extra.get("sidecars", {}) for v in videos], settings)
    bad = []
    for b in bad_inputs:
        st = VideoState(b.uri)
        st.fail("discover", b.error)
        bad.append(st)
    for i, st in enumerate(found + bad):
        st.index = i
    return found, bad


def attach_hints(states: Sequence[VideoState], sidecars: Sequence[dict], settings: Settings) -> None:
    """Each video's word list and script: its sidecar files, else the run's ``--vocabulary``/``--script``.

    A run-wide file that cannot be read stops the run (every video would fail alike); a bad sidecar fails only
    its video. Whether the words are known to the model is checked at recognition, per video."""
    from signbridge.errors import SignBridgeError
    from signbridge.recognize.hints import HintTexts, read_hint

    run_wide = {k: read_hint(getattr(settings, k), settings, what) for k, what in
                (("vocabulary", "word list"), ("script", "script")) if getattr(settings, k)}
    for st, side in zip(states, sidecars):
        texts = dict(run_wide)
        try:
            for kind, what in (("vocabulary", "word list"), ("script", "script")):
                if side.get(kind):
                    texts[kind] = read_hint(side[kind], settings, what)
        except SignBridgeError as e:
            st.fail("discover", e)
            st.permanent = True
            continue
        if texts:
            st.hints = HintTexts(texts.get("vocabulary"), texts.get("script")).to_dict()


def measure_durations(states: Sequence[VideoState], ctx: Context, threads: int = 8) -> None:
    """Duration of every pending video, for planning (objects in S3 are read by ffprobe over a presigned
    URL, so only their headers travel). An unreadable file fails here, before any task is spent on it."""
    todo = [st for st in states if st.active]

    def one(st: VideoState) -> None:
        t0 = time.perf_counter()
        try:
            st.duration_ms = _duration_ms(st, ctx)
        except InputError as e:
            st.fail("extract", e)
            st.permanent = True
            remember_failure(st, ctx)
        st.timings["inspect"] = round(time.perf_counter() - t0, 3)

    with ThreadPoolExecutor(max(1, min(threads, len(todo) or 1))) as ex:
        list(ex.map(one, todo))


def _duration_ms(st: VideoState, ctx: Context) -> float:
    from signbridge.media import require_tool

    if st.input_uri.startswith("s3://"):
        store, key = ctx.input_store(st.input_uri)
        try:
            url = store.presigned_url(key)
            res = subprocess.run([require_tool("ffprobe"), "-v", "error", "-show_entries",
                                  "format=duration:stream=codec_type", "-of", "json", url],
                                 capture_output=True, text=True, timeout=120)
            if res.returncode == 0:
                info = json.loads(res.stdout or "{}")
                has_video = any(s.get("codec_type") == "video" for s in info.get("streams") or [])
                dur = float((info.get("format") or {}).get("duration") or 0)
                if has_video and dur > 0:
                    return dur * 1000.0
        except (subprocess.SubprocessError, ValueError, json.JSONDecodeError) as e:
            log.debug("remote ffprobe of %s failed (%s); downloading it", st.input_uri, e)
        # remote read inconclusive: the local check gives the specific reason
        with ctx.workdir("inspect") as d:
            return _local_duration_ms(ctx.fetch(st.input_uri, d), st.input_uri, ctx)
    return _local_duration_ms(Path(st.input_uri), st.input_uri, ctx)


def _local_duration_ms(path: Path, source: str, ctx: Context) -> float:
    """Duration of a local video; for an unusable file, the extractor's own checks name the problem
    (a text file named .mp4, a truncated file) rather than ffprobe's first line."""
    from signbridge.media import require_video

    try:
        return require_video(path).duration_s * 1000.0
    except InputError as first:
        err = first
        try:
            from signbridge.extract.video import prepare

            job = prepare(path, ctx.settings, source_uri=source, workers=1)
            return job.info.duration_s * 1000.0
        except InputError as e:
            err = e
        except ImportError:
            pass
        raise InputError(err.message, source=source, hint=err.hint) from None
