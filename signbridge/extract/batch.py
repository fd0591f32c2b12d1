"""Many videos through one worker pool: inputs from files, folders and ``s3://`` prefixes.

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
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from signbridge.errors import InputError, NoSignerError, SignBridgeError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                              ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".mxf", ".dv", ".y4m"})


@dataclass
class VideoRef:
    """One input video: where it is and the name its outputs get (relative key without extension)."""

    uri: str
    name: str
    local_path: str | None = None  # set for local files
    store: Any = None  # set for s3 objects
    key: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class VideoOutcome:
    ref: VideoRef
    extraction: Any = None  # Extraction when ok
    error: SignBridgeError | None = None
    status: str = "ok"  # ok | failed | no_signer
    seconds: float = 0.0
    sha256: str | None = None
    stats: dict | None = None  # detection stats (also for no_signer)


def _is_video_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_EXTENSIONS


def _stem_key(rel: str) -> str:
    p = PurePosixPath(rel)
    return str(p.with_suffix("")) if p.suffix else str(p)


def discover(inputs: Iterable[str], settings) -> tuple[list[VideoRef], list[VideoOutcome]]:
    """Expand inputs into video refs. Unreadable inputs come back as failed outcomes, not exceptions."""
    from signbridge.storage import open_store
    from signbridge.storage.s3 import parse_s3_uri

    refs: list[VideoRef] = []
    bad: list[VideoOutcome] = []
    for raw in inputs:
        if raw.startswith("s3://"):
            try:
                bucket, prefix = parse_s3_uri(raw)
                root = open_store(f"s3://{bucket}", settings)
                objs = [o for o in root.list(prefix) if o.key == prefix or o.key.startswith(prefix.rstrip("/") + "/")
                        or not prefix]
            except SignBridgeError as e:
                bad.append(VideoOutcome(VideoRef(raw, _stem_key(raw.rsplit("/", 1)[-1]) or "input"), error=e,
                                        status="failed"))
                continue
            exact = [o for o in objs if o.key == prefix]
            if exact:  # a single object
                o = exact[0]
                refs.append(VideoRef(f"s3://{bucket}/{o.key}", _stem_key(PurePosixPath(o.key).name), store=root,
                                     key=o.key))
                continue
            found = [o for o in objs if _is_video_name(o.key)]
            if not found:
                bad.append(VideoOutcome(VideoRef(raw, _stem_key(prefix.rsplit("/", 1)[-1]) or bucket),
                                        error=InputError("no video files under this prefix", source=raw,
                                                         hint=f"extensions read: {', '.join(sorted(VIDEO_EXTENSIONS))}"),
                                        status="failed"))
            base = prefix.rstrip("/") + "/" if prefix else ""
            for o in sorted(found, key=lambda o: o.key):
                refs.append(VideoRef(f"s3://{bucket}/{o.key}", _stem_key(o.key[len(base):]), store=root, key=o.key))
            continue
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and _is_video_name(f.name))
            if not files:
                bad.append(VideoOutcome(VideoRef(str(p), p.name or "input"),
                                        error=InputError("no video files in this folder", source=str(p)),
                                        status="failed"))
            for f in files:
                refs.append(VideoRef(str(f), _stem_key(f.relative_to(p).as_posix()), local_path=str(f)))
        else:
            # missing or odd files are reported by the probe with a specific reason
            refs.append(VideoRef(str(p), _stem_key(p.name) or "input", local_path=str(p)))
    _dedupe_names(refs)
    return refs, bad


def _dedupe_names(refs: list[VideoRef]) -> None:
    seen: dict[str, int] = {}
    for r in refs:
        n = seen.get(r.name, 0)
        seen[r.name] = n + 1
        if n:
            r.name = f"{r.name}-{n + 1}"


@dataclass
class _Pending:
    ref: VideoRef
    job: Any
    futures: list | None
    tmp: str | None
    started: float
    sha256: str
    generation: int = 0  # which pool the futures came from
    retried: bool = False


def run_batch(refs: list[VideoRef], settings, *, workers: int | None = None, progress: bool = False,
              on_done: Callable[[VideoOutcome], None] | None = None, chunk_s: float | None = None
              ) -> list[VideoOutcome]:
    """Extract every ref; call ``on_done`` as each finishes. Never raises for one video."""
    from signbridge.extract.holistic import run_chunk
    from signbridge.extract.video import WorkerPool, _ProgressPump, check_seek, finish, prepare, resolve_workers
    from signbridge.storage.keys import sha256_file

    settings = settings.validate()
    n_workers = resolve_workers(workers, settings)
    outcomes: list[VideoOutcome] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="frame", desc=f"0/{len(refs)} videos", dynamic_ncols=True)
    pool = WorkerPool(n_workers) if n_workers > 1 else None
    pump = _ProgressPump(pool, lambda _k, n: bar.update(n)) if (pool is not None and bar is not None) else None
    pending: deque[_Pending] = deque()
    done_count = 0
    generation = 0

    def rebuild_pool() -> None:
        nonlocal pool, generation
        assert pool is not None
        pool.close()
        pool = WorkerPool(n_workers)
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
            results = [r if check_seek(p.job, r) else run_chunk(_no_seek(p.job.tasks[r.chunk_index]))
                       for r in results]
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

    lookahead = max(2, 2 * n_workers)
    try:
        for i, ref in enumerate(refs):
            started = time.perf_counter()
            tmp = None
            try:
                path = ref.local_path
                if path is None:
                    tmp = tempfile.mkdtemp(prefix="signbridge-extract-")
                    path = str(Path(tmp) / PurePosixPath(ref.key or "video").name)
                    ref.store.get_file(ref.key, path)
                job = prepare(path, settings, source_uri=ref.uri, workers=n_workers, chunk_s=chunk_s, key=i)
                sha = sha256_file(path)
                if bar is not None and job.expected_frames:
                    bar.total = (bar.total or 0) + job.expected_frames
                    bar.refresh()
                futures = submit_all(job.tasks) if pool is not None else None
                pending.append(_Pending(ref, job, futures, tmp, started, sha, generation))
            except SignBridgeError as e:
                if tmp:
                    shutil.rmtree(tmp, ignore_errors=True)
                emit(VideoOutcome(ref, error=e, status="failed", seconds=time.perf_counter() - started))
                continue
            while len(pending) > (lookahead if pool is not None else 0):
                complete(pending.popleft())
        while pending:
            complete(pending.popleft())
    finally:
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


def _no_seek(task):
    import dataclasses

    return dataclasses.replace(task, seek_s=None)
