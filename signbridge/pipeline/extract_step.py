"""The extract step: each video's landmarks into its result folder (long videos in chunks)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from signbridge.errors import SignBridgeError
from signbridge.pipeline.context import Context
from signbridge.pipeline.guard import detection_summary, guard, raise_if_all_storage, stage_module
from signbridge.pipeline.layout import LANDMARKS, folder_for
from signbridge.pipeline.results_index import load_done, remember_failure, remember_sha
from signbridge.pipeline.state import VideoState

log = logging.getLogger(__name__)


def _landmarks_info(path: Path) -> dict:
    import pyarrow.parquet as pq

    from signbridge.contracts import read_landmarks_metadata

    return read_landmarks_metadata(pq.read_schema(str(path)), source=str(path))


def identify(st: VideoState, path: Path, ctx: Context) -> None:
    """Name the video by its bytes: its sha256 fixes the result folder."""
    from signbridge.storage.keys import sha256_file

    sha = sha256_file(path)
    if st.sha256 and st.sha256 != sha:
        log.warning("%s changed since it was listed; using its current content", st.input_uri)
    st.sha256, st.folder = sha, folder_for(sha, ctx.fp_for(st))


def use_existing_landmarks(st: VideoState, ctx: Context, folder, d: Path) -> None:
    """An earlier run or try stored the landmarks: take their detection counts and duration."""
    from signbridge.pipeline import integrity

    local = integrity.get_file(st, folder, LANDMARKS, d / LANDMARKS)
    meta = _landmarks_info(local)
    st.outputs["landmarks"] = folder.uri(LANDMARKS)
    st.detection.update(detection_summary(meta))
    if meta.get("duration_s"):
        st.duration_ms = float(meta["duration_s"]) * 1000.0


def store_landmarks(st: VideoState, ctx: Context, folder, ex, d: Path) -> None:
    """Write an extraction's landmarks to the result folder and note what it found."""
    from signbridge.extract import write_landmarks

    st.outputs["landmarks"] = ctx.put(folder, LANDMARKS, write_landmarks(ex.table, d / LANDMARKS), st)
    st.detection.update(detection_summary(ex.meta))
    st.duration_ms = float(ex.meta.get("duration_s") or 0) * 1000.0 or st.duration_ms


def extract_videos(states: Sequence[VideoState], ctx: Context, *, workers: int | None = 1) -> None:
    """Landmarks for each whole video (one extraction per video, chunked as ``chunk_seconds`` says).

    With more than one worker and more than one video, the videos share one worker pool
    (:func:`extract_pooled`), so short clips keep every core busy instead of one clip at a time."""
    mod = stage_module("extract", "signbridge.extract", states)
    if mod is None:
        return
    errors: list = []
    todo = [st for st in states if st.active]
    from signbridge.extract.video import resolve_workers

    attempted = len(todo)
    if len(todo) > 1 and (resolve_workers(workers, ctx.settings) > 1 or ctx.settings.extractor == "gpu"):
        todo = extract_pooled(todo, ctx, resolve_workers(workers, ctx.settings), errors)

    for st in todo:
        def one(st: VideoState = st) -> None:
            with ctx.workdir("extract") as d:
                path = to_extract(st, ctx, d)
                if path is not None:
                    ex = mod.extract_video(path, ctx.settings, source_uri=st.input_uri, workers=workers,
                                           chunk_s=ctx.settings.chunk_seconds)
                    store_landmarks(st, ctx, ctx.folder(st), ex, d)
                    remember_sha(st, ctx)
        guard(st, "extract", one, errors)
        remember_failure(st, ctx)
    raise_if_all_storage(attempted, errors)


def to_extract(st: VideoState, ctx: Context, d: Path) -> Path | None:
    """Fetch and name the video; the local file if it still needs extracting, None if an earlier run (or
    try) already stored its landmarks or its whole result."""
    path = ctx.fetch(st.input_uri, d)
    identify(st, path, ctx)
    if load_done(st, ctx):
        return None
    folder = ctx.folder(st)
    if not folder.exists(LANDMARKS) and st.hints:  # landmarks do not depend on a word list or script
        plain = ctx.out.child(folder_for(st.sha256, ctx.fp))
        if plain.exists(LANDMARKS):
            ctx.put(folder, LANDMARKS, plain.get_file(LANDMARKS, d / LANDMARKS))
    if folder.exists(LANDMARKS):  # an earlier run or try got this far
        from signbridge.pipeline.integrity import DamagedError

        try:
            use_existing_landmarks(st, ctx, folder, d)
        except DamagedError as e:  # damaged since this run stored it: extract again
            log.warning("%s; extracting again", e)
            folder.delete(LANDMARKS)
            st.sums.pop(LANDMARKS, None)
            st.repaired.append(f"{LANDMARKS} ({e.message.removeprefix('stored intermediate is damaged ')})")
            return path
        remember_sha(st, ctx)
        return None
    return path


def extract_pooled(todo: Sequence[VideoState], ctx: Context, workers: int, errors: list) -> list[VideoState]:
    """Many videos through one pool of ``workers`` graph processes (:func:`signbridge.extract.run_batch`).

    Videos are fetched and named first (finished ones skipped), then the rest run side by side; each
    result is stored as it arrives. Failures land on their own video, as in the one-at-a-time path.
    Returns the videos the pool never finished because the pool itself failed (for the one-at-a-time path)."""
    from signbridge.extract.batch import run_batch
    from signbridge.storage.inputs import InputVideo

    with ctx.workdir("extract") as d:
        run: dict[str, tuple[VideoState, Path, Path]] = {}  # InputVideo name -> state, local file, folder
        for st in todo:
            def fetch(st: VideoState = st) -> None:
                sub = d / str(st.index)
                sub.mkdir()
                path = to_extract(st, ctx, sub)
                if path is not None:
                    run[str(st.index)] = (st, path, sub)
            guard(st, "extract", fetch, errors)
            remember_failure(st, ctx)

        finished: set[str] = set()
        record_errors: list[SignBridgeError] = []

        def done(outcome) -> None:
            finished.add(outcome.ref.name)
            st, _, sub = run[outcome.ref.name]

            def store() -> None:
                if outcome.error is not None:
                    raise outcome.error
                store_landmarks(st, ctx, ctx.folder(st), outcome.extraction, sub)
                remember_sha(st, ctx)
            guard(st, "extract", store, errors)
            if outcome.extraction is not None:  # its chunks' time in a worker, not time queued behind others
                busy = sum(outcome.extraction.chunk_seconds or [])
                st.timings["extract"] = round(st.timings.get("extract", 0.0) + busy, 3)
            try:
                remember_failure(st, ctx)
            except SignBridgeError as e:  # run_batch would swallow it; raised after the batch instead
                record_errors.append(e)

        refs = [InputVideo(uri=st.input_uri, name=name, local_path=str(p)) for name, (st, p, _) in run.items()]
        left: list[VideoState] = []
        try:
            if refs:
                run_batch(refs, ctx.settings, workers=workers, on_done=done, chunk_s=ctx.settings.chunk_seconds)
        except Exception:  # noqa: BLE001 - the pool itself failed: the rest go one at a time, as before
            log.exception("the extraction pool failed; the unit's remaining videos run one at a time")
            left = [st for name, (st, _, _) in run.items() if name not in finished]
    if record_errors:
        raise record_errors[0]
    return left
