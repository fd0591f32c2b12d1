"""Many videos through one worker pool (inputs found by :mod:`signbridge.storage.inputs`).

Each video is prepared (downloaded if remote, probed, planned) while earlier ones
run, its chunks go to the shared pool, and its result or error is handed to a
sink. One bad video is one failed entry; the rest of the batch goes on. Remote
videos live in a temporary folder only until their landmarks are written.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from signbridge.errors import NoSignerError, SignBridgeError
from signbridge.storage.inputs import InputVideo

log = logging.getLogger(__name__)


@dataclass
class VideoOutcome:
    """What extracting one input gave: its landmarks, or why not."""

    ref: InputVideo
    extraction: Any = None  # Extraction when ok
    error: SignBridgeError | None = None
    status: str = "ok"  # ok | failed | no_signer
    seconds: float = 0.0
    sha256: str | None = None
    stats: dict | None = None  # detection stats (also for no_signer)


@dataclass
class _Pending:
    ref: InputVideo
    job: Any
    futures: list | None
    tmp: str | None
    started: float
    sha256: str
    generation: int = 0  # which pool the futures came from
    retried: bool = False


def run_batch(refs: list[InputVideo], settings, *, workers: int | None = None, progress: bool = False,
              on_done: Callable[[VideoOutcome], None] | None = None, chunk_s: float | None = None
              ) -> list[VideoOutcome]:
    """Extract every ref; call ``on_done`` as each finishes. Never raises for one video.

    Long because the pool, the look-ahead queue and the crash recovery share one set of local state."""
    from signbridge.extract.holistic import run_chunk
    from signbridge.extract.video import _ProgressPump, finish, make_pool, prepare, resolve_workers, settle_chunk
    from signbridge.storage.keys import sha256_file

    settings = settings.validate()
    n_workers = resolve_workers(workers, settings)
    outcomes: list[VideoOutcome] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="frame", desc=f"0/{len(refs)} videos", dynamic_ncols=True)
    pool = make_pool(settings, n_workers)
    pump = _ProgressPump(pool, lambda _k, n: bar.update(n)) if (pool is not None and bar is not None) else None
    pending: deque[_Pending] = deque()
    done_count = 0
    generation = 0

    def rebuild_pool() -> None:
        nonlocal pool, generation
        assert pool is not None
        pool.close()
        pool = make_pool(settings, n_workers)
        generation += 1
        if pump is not None:
            pump._pool = pool

    def submit_all(tasks) -> list:
        for attempt in (1, 2):
            try:
                return [pool.submit(t) for t in tasks]
            except BrokenProcessPool:  # broke between videos: start a fresh pool and submit again
                if attempt == 2:
                    raise
                rebuild_pool()
        raise AssertionError("unreachable")

    def emit(o: VideoOutcome) -> None:
        nonlocal done_count
        outcomes.append(o)
        done_count += 1
        if bar is not None:
            bar.set_description(f"{done_count}/{len(refs)} videos")
        if on_done:
            try:
                on_done(o)
            except SignBridgeError as e:  # e.g. the output store refused the write: that video failed
                o.status, o.error, o.extraction = "failed", e, None
        if o.error is not None:
            log.debug("%s", o.error)

    def complete(p: _Pending) -> None:
        outcome = VideoOutcome(p.ref, sha256=p.sha256)
        try:
            try:
                if p.futures is None:
                    results = [run_chunk(t, progress=bar.update if bar is not None else None) for t in p.job.tasks]
                else:
                    results = [f.result() for f in p.futures]
            except BrokenProcessPool:
                # a worker died (out of memory, crashed decoder): rebuild the pool once per breakage and
                # give this video one more try in a fresh worker; the main process never runs a video
                # that may crash it
                if p.generation == generation:
                    rebuild_pool()
                if p.retried:
                    raise SignBridgeError("a worker process crashed twice on this video", source=p.ref.uri,
                                          hint="the file may be damaged in a way the decoder cannot survive; "
                                               "re-encode it") from None
                log.warning("%s: a worker process died; retrying the video once", p.ref.uri)
                p.retried, p.generation = True, generation
                p.futures = submit_all(p.job.tasks)
                p.generation = generation
                pending.appendleft(p)
                return
            results = [settle_chunk(p.job, r) for r in results]
            outcome.extraction = finish(p.job, results, sha256=p.sha256)
            outcome.stats = outcome.extraction.stats
        except NoSignerError as e:
            outcome.status, outcome.error = "no_signer", e
            outcome.stats = getattr(e, "stats", None)
        except SignBridgeError as e:
            outcome.status, outcome.error = "failed", e
        except Exception as e:  # noqa: BLE001 — one video's surprise must not stop the batch
            log.exception("unexpected error on %s", p.ref.uri)
            outcome.status = "failed"
            outcome.error = SignBridgeError(f"internal error while extracting: {type(e).__name__}: {e}",
                                            source=p.ref.uri, hint="please report this with the video")
        outcome.seconds = time.perf_counter() - p.started
        try:
            emit(outcome)
        finally:
            if p.tmp:
                shutil.rmtree(p.tmp, ignore_errors=True)

    lookahead = max(2, 2 * (pool.workers if pool is not None else n_workers))
    plan_workers = pool.workers if pool is not None else 1

    def fetch_and_prepare(i: int, ref: InputVideo):
        """Download (if remote), probe and hash one input: threads run these ahead of the pool, so a batch of
        short clips is not held to one ffprobe at a time."""
        started = time.perf_counter()
        tmp = None
        try:
            path = ref.local_path
            if path is None:
                tmp = tempfile.mkdtemp(prefix="signbridge-extract-")
                path = str(Path(tmp) / PurePosixPath(ref.key or "video").name)
                ref.store.get_file(ref.key, path)
            job = prepare(path, settings, source_uri=ref.uri, workers=plan_workers, chunk_s=chunk_s, key=i)
            return job, sha256_file(path), tmp, started, None
        except SignBridgeError as e:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
            return None, None, None, started, e

    from concurrent.futures import ThreadPoolExecutor

    from signbridge.processes import usable_cores

    preparing: deque = deque()
    todo = iter(enumerate(refs))
    prep_ex = ThreadPoolExecutor(max_workers=max(1, min(8, usable_cores())), thread_name_prefix="signbridge-prepare")
    try:
        while True:
            for i, ref in todo:  # keep up to `lookahead` inputs being prepared
                preparing.append((ref, prep_ex.submit(fetch_and_prepare, i, ref)))
                if len(preparing) >= lookahead:
                    break
            if not preparing:
                break
            ref, fut = preparing.popleft()
            job, sha, tmp, started, err = fut.result()
            if err is not None:
                emit(VideoOutcome(ref, error=err, status="failed", seconds=time.perf_counter() - started))
                continue
            if bar is not None and job.expected_frames:
                bar.total = (bar.total or 0) + job.expected_frames
                bar.refresh()
            try:
                futures = submit_all(job.tasks) if pool is not None else None
            except BaseException:
                if tmp:
                    shutil.rmtree(tmp, ignore_errors=True)
                raise
            pending.append(_Pending(ref, job, futures, tmp, started, sha, generation))
            while len(pending) > (lookahead if pool is not None else 0):
                complete(pending.popleft())
        while pending:
            complete(pending.popleft())
    finally:
        for _ref, fut in preparing:
            fut.cancel()
        prep_ex.shutdown(wait=True)
        for _ref, fut in preparing:  # prepared but never run: their downloads go
            try:
                tmp = None if fut.cancelled() else fut.result()[2]
            except Exception:  # noqa: BLE001 — already failing; only the clean-up is left
                tmp = None
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        if pump is not None:
            pump.stop()
        if pool is not None:
            pool.close()
        for p in pending:
            if p.tmp:
                shutil.rmtree(p.tmp, ignore_errors=True)
        if bar is not None:
            bar.close()
    return outcomes
