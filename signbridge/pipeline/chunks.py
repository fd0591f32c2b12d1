"""Long videos in the DAG: one task per chunk, staged as ``.npz`` under ``_staging/`` until assembled."""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
import typing
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from signbridge.errors import InputError, SignBridgeError, StorageError
from signbridge.pipeline.context import Context
from signbridge.pipeline.extract_step import identify, store_landmarks, use_existing_landmarks
from signbridge.pipeline.guard import guard, stage_module
from signbridge.pipeline.layout import LANDMARKS, STAGING, content_type
from signbridge.pipeline.results_index import load_done, remember_failure, remember_sha
from signbridge.pipeline.state import VideoState
from signbridge.testhooks import sync_point

log = logging.getLogger(__name__)


def _chunk_key(i: int, n: int) -> str:
    return f"chunk-{i:04d}-of-{n:04d}.npz"


def _chunk_to_bytes(r) -> bytes:
    """A ChunkResult as .npz (arrays stay arrays; no pickle, so a staged object cannot run code).

    Generic over the dataclass fields, so a field the extractor adds travels too."""
    import numpy as np

    arrays: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for f in dataclasses.fields(r):
        v = getattr(r, f.name)
        if isinstance(v, np.ndarray):
            arrays[f"a__{f.name}"] = v
        elif isinstance(v, dict) and v and all(isinstance(x, np.ndarray) for x in v.values()):
            for k, x in v.items():
                arrays[f"d__{f.name}__{k}"] = x
        elif dataclasses.is_dataclass(v):
            meta[f.name] = {"__dataclass__": True, **{g.name: (str(getattr(v, g.name)) if isinstance(
                getattr(v, g.name), Fraction) else getattr(v, g.name)) for g in dataclasses.fields(v)}}
        else:
            meta[f.name] = v
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def _chunk_from_bytes(data: bytes):
    import numpy as np

    from signbridge.extract.chunks import ChunkResult

    z = np.load(io.BytesIO(data), allow_pickle=False)
    meta = json.loads(z["__meta__"].tobytes().decode())
    kw: dict[str, Any] = {}
    hints = typing.get_type_hints(ChunkResult)
    for name, v in meta.items():
        if isinstance(v, dict) and v.pop("__dataclass__", False):
            cls = hints[name]
            sub = typing.get_type_hints(cls)
            kw[name] = cls(**{k: (Fraction(x) if x is not None and "Fraction" in str(sub.get(k)) else x)
                              for k, x in v.items()})
        else:
            kw[name] = v
    for key in z.files:
        if key.startswith("a__"):
            kw[key[3:]] = z[key]
        elif key.startswith("d__"):
            name, part = key[3:].split("__", 1)
            kw.setdefault(name, {})[part] = z[key]
    return ChunkResult(**kw)


def _prepare(path: Path, st: VideoState, ctx: Context):
    from signbridge.extract.video import prepare

    return prepare(path, ctx.settings, source_uri=st.input_uri, workers=1, chunk_s=ctx.settings.chunk_seconds)


def extract_chunk(st: VideoState, unit: int, n_units: int, ctx: Context) -> dict[str, Any]:
    """One planned part of a long video: its chunks go to ``_staging`` until :func:`assemble_chunks`.

    The planner counted chunks from the container duration; the extractor counts from the packet
    timeline. Should they differ, unit ``u`` takes every chunk ``i`` with ``i % n_units == u``.
    """
    out: dict[str, Any] = {"index": st.index, "unit": unit, "status": "ok", "chunks": []}
    t0 = time.perf_counter()
    try:
        stage_module("extract", "signbridge.extract.video", [st])
        if not st.active:
            raise SignBridgeError(st.error or "extract stage unavailable")
        with ctx.workdir("chunk") as d:
            path = ctx.fetch(st.input_uri, d)
            identify(st, path, ctx)
            out["sha256"] = st.sha256
            if ctx.folder(st).exists(LANDMARKS):
                out["done"] = True
                return out
            from signbridge.extract.video import run_job_chunk

            job = _prepare(path, st, ctx)
            staged = ctx.out.child(f"{STAGING}/{st.folder}")
            n = len(job.tasks)
            for i in range(n):
                if i % n_units != unit:
                    continue
                key = _chunk_key(i, n)
                if not staged.exists(key):
                    staged.put_bytes(key, _chunk_to_bytes(run_job_chunk(job, i)), content_type(key))
                    sync_point("chunk-staged")
                out["chunks"].append(i)
    except StorageError:
        raise  # the store, not the video: the task retries
    except SignBridgeError as e:
        out.update(status="failed", error=str(e), permanent=isinstance(e, InputError))
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def assemble_chunks(st: VideoState, chunk_results: Sequence[dict], ctx: Context) -> None:
    """Merge a long video's staged chunks into its landmarks file (running any chunk that is missing)."""
    failed = [r for r in chunk_results if r.get("status") == "failed"]
    staged = ctx.out.child(f"{STAGING}/{st.folder}") if st.folder else None
    st.timings["extract"] = round(sum(float(r.get("seconds") or 0) for r in chunk_results), 3)
    if failed:
        st.fail("extract", failed[0].get("error") or "a chunk failed")
        st.permanent = all(r.get("permanent") for r in failed)
        remember_failure(st, ctx)
        if staged is not None:
            staged.delete_prefix("")
        return

    def one() -> None:
        from signbridge.extract.video import finish, run_job_chunk

        with ctx.workdir("assemble") as d:
            path = ctx.fetch(st.input_uri, d)
            identify(st, path, ctx)
            if load_done(st, ctx):
                return
            folder = ctx.folder(st)
            staged_here = ctx.out.child(f"{STAGING}/{st.folder}")
            if folder.exists(LANDMARKS):
                use_existing_landmarks(st, ctx, folder, d)
            else:
                job = _prepare(path, st, ctx)
                n = len(job.tasks)
                results = []
                for i in range(n):
                    key = _chunk_key(i, n)
                    if staged_here.exists(key):
                        results.append(_chunk_from_bytes(staged_here.get_bytes(key)))
                    else:
                        log.warning("%s: chunk %d/%d was not staged; extracting it now", st.input_uri, i + 1, n)
                        results.append(run_job_chunk(job, i))
                try:
                    ex = finish(job, results, sha256=st.sha256)
                finally:
                    staged_here.delete_prefix("")  # success or a definite failure: the chunks are not needed
                store_landmarks(st, ctx, folder, ex, d)
            staged_here.delete_prefix("")
            remember_sha(st, ctx)
    guard(st, "extract", one)
    remember_failure(st, ctx)

