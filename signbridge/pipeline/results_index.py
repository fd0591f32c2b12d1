"""The output's ``_index/``: which object versions an earlier run finished or found unusable.

A rerun over the same uploads finds finished folders from listings alone (no download, no decode),
and reports a file that is broken in itself without trying it again.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from signbridge.pipeline.context import Context
from signbridge.pipeline.layout import INDEX, RESULT, folder_for, source_id
from signbridge.pipeline.state import VideoState


def lookup_done(states: Sequence[VideoState], ctx: Context, threads: int = 16) -> None:
    """Mark videos whose outputs an earlier run finished as ``skipped`` (no download, no decode).

    The sha256 of an object version is remembered in ``_index/`` once it has been read, so a
    rerun over the same uploads finds finished folders from listings alone.
    """
    index = ctx.out.child(INDEX)

    def one(st: VideoState) -> None:
        sid = source_id(st.input_uri, st.size, st.etag)
        sha = None
        if sid and _load_failure(st, sid, ctx):
            return
        if sid and index.exists(f"{sid}.json"):
            sha = ctx.get_json(index, f"{sid}.json").get("sha256")
        elif not st.input_uri.startswith("s3://") and Path(st.input_uri).is_file():
            from signbridge.storage.keys import sha256_file

            sha = sha256_file(st.input_uri)  # local files are cheap to hash
        if not sha:
            return
        st.sha256, st.folder = sha, folder_for(sha, ctx.fp_for(st))
        load_done(st, ctx)

    todo = [st for st in states if st.active]
    with ThreadPoolExecutor(max(1, min(threads, len(todo) or 1))) as ex:  # a few small requests per video
        list(ex.map(one, todo))


def load_done(st: VideoState, ctx: Context) -> bool:
    """Mark ``st`` skipped when its result folder is complete (``result.json`` says ok)."""
    folder = ctx.folder(st)
    if not folder.exists(RESULT):
        return False
    prev = ctx.get_json(folder, RESULT)
    if prev.get("status") not in ("ok", "no_signing"):
        return False
    st.status = "skipped"
    st.note = prev.get("note")
    st.outputs = {k: v for k, v in (prev.get("outputs") or {}).items()}
    st.detection = prev.get("detection") or {}
    st.duration_ms = prev.get("duration_ms") or st.duration_ms
    return True


def _failure_key(sid: str, fp: str) -> str:
    return f"{sid}-{fp}.failed.json"


def _load_failure(st: VideoState, sid: str, ctx: Context) -> bool:
    """An earlier run found this exact object unusable with these settings and this SignBridge version."""
    from signbridge import __version__

    index = ctx.out.child(INDEX)
    key = _failure_key(sid, ctx.fp)
    if not index.exists(key):
        return False
    rec = ctx.get_json(index, key)
    if rec.get("version") != __version__:
        return False
    st.status = rec.get("status") or "failed"
    st.failed_stage, st.error = rec.get("failed_stage"), rec.get("error")
    st.sha256 = rec.get("sha256") or st.sha256
    st.detection = rec.get("detection") or {}
    st.permanent = True
    return True


def remember_failure(st: VideoState, ctx: Context) -> None:
    """Keep a failure caused by the file itself, so a rerun reports it without trying again. Only
    bookkeeping under ``_index/``: the video still has no result folder. New bytes (a fixed upload)
    have another etag and are tried afresh."""
    from signbridge import __version__

    sid = source_id(st.input_uri, st.size, st.etag)
    if sid and st.permanent and st.status in ("failed", "no_signer"):
        ctx.put_json(ctx.out.child(INDEX), _failure_key(sid, ctx.fp),
                     {"uri": st.input_uri, "size": st.size, "etag": st.etag, "sha256": st.sha256,
                      "status": st.status, "failed_stage": st.failed_stage, "error": st.error,
                      "detection": st.detection, "version": __version__})


def remember_sha(st: VideoState, ctx: Context) -> None:
    sid = source_id(st.input_uri, st.size, st.etag)
    if sid and st.sha256:
        ctx.put_json(ctx.out.child(INDEX), f"{sid}.json",
                     {"uri": st.input_uri, "size": st.size, "etag": st.etag, "sha256": st.sha256})

