"""The steps after extraction, each over a batch of videos: recognise, compose, speak, mux, finish.

Each reads its inputs from the result folders, calls its stage, writes its outputs (one atomic put
each) and returns; an output already stored is reused, so a retried task redoes only what is missing.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from signbridge.errors import InputError
from signbridge.pipeline import integrity
from signbridge.pipeline.context import Context
from signbridge.pipeline.guard import batched, guard, pending, raise_if_all_storage, stage_module
from signbridge.pipeline.layout import GLOSS_TRACK, LANDMARKS, RESULT, RESULT_FILES, TRANSCRIPT, VIDEO
from signbridge.pipeline.render import render_speech, render_video
from signbridge.pipeline.state import VideoState, honest_status
from signbridge.records import GlossTrack, Transcript


def recognize_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """Gloss tracks; all videos of the batch share the recogniser's batched forward passes."""
    lacking = [st for st in states if st.active and "gloss_track" not in st.outputs]
    todo = pending(states, ctx, "gloss_track", GLOSS_TRACK)
    for st in lacking:  # a track an interrupted run stored: its counts and hints still belong in the summary
        if st not in todo and "signs" not in st.detection:
            guard(st, "recognize", lambda st=st: _note_track(st, GlossTrack.from_dict(
                ctx.get_json(ctx.folder(st), GLOSS_TRACK), source=ctx.folder(st).uri(GLOSS_TRACK))))
    if not todo:
        return
    mod = stage_module("recognize", "signbridge.recognize", todo)
    if mod is None:
        return
    from signbridge.extract import read_landmarks

    with ctx.workdir("recognize") as d:
        tables, ready = [], []
        for st in todo:
            def load(st: VideoState = st) -> None:
                folder = ctx.folder(st)
                local = integrity.load_checked(
                    st, folder, LANDMARKS, lambda: integrity.get_file(st, folder, LANDMARKS, d / f"{st.index}.parquet"),
                    lambda: _redo_extract(st, ctx))
                tables.append(read_landmarks(local, source=folder.uri(LANDMARKS)))
                ready.append(st)
            guard(st, "recognize", load)
        if not ready:
            return
        tracks = batched("recognize", ready, tables, lambda sts, tbls: mod.recognize_tables(
            tbls, ctx.settings, [st.input_uri for st in sts], hints_of(sts)))
        for st, track in tracks:
            guard(st, "recognize", lambda st=st, track=track: _write_track(st, track, ctx))


def _redo_extract(st: VideoState, ctx: Context) -> None:
    from signbridge.pipeline.extract_step import extract_videos

    extract_videos([st], ctx, workers=1)


def _json(st: VideoState, ctx: Context, name: str, redo) -> dict:
    """A stored JSON intermediate of ``st``, checked against its record (recomputed by ``redo`` if damaged)."""
    import json

    folder = ctx.folder(st)
    return integrity.load_checked(st, folder, name, lambda: json.loads(integrity.get_bytes(st, folder, name)),
                                  lambda: redo([st], ctx))


def hints_of(states: Sequence[VideoState]) -> list | None:
    """Each video's word list / script texts (None when no video of the batch has one)."""
    if not any(st.hints for st in states):
        return None
    from signbridge.recognize.hints import HintTexts

    return [HintTexts.from_dict(st.hints) for st in states]


def _write_track(st: VideoState, track: GlossTrack, ctx: Context) -> None:
    if st.sha256 and not track.sha256:
        track.sha256 = st.sha256
    if track.duration_ms is None and st.duration_ms:
        track.duration_ms = st.duration_ms
    st.outputs["gloss_track"] = ctx.put_json(ctx.folder(st), GLOSS_TRACK, track.to_dict(), st)
    _note_track(st, track)


def _note_track(st: VideoState, track: GlossTrack) -> None:
    """What the run summary says of a video's recognition: spans, unclear ones, the hints used."""
    unknown = sum(1 for s in track.spans if s.kind == "unknown")
    st.detection.update({"signs": len(track.spans), "unclear": unknown})
    if track.hints:
        from signbridge.recognize.hints import describe

        st.detection["hints"] = describe(track.hints)


def compose_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """English transcripts: one batched composer call for every video that needs one."""
    todo = pending(states, ctx, "transcript", TRANSCRIPT)
    if not todo:
        return
    mod = stage_module("compose", "signbridge.compose", todo)
    if mod is None:
        return
    tracks, ready = [], []
    for st in todo:
        def load(st: VideoState = st) -> None:
            doc = _json(st, ctx, GLOSS_TRACK, recognize_videos)
            tracks.append(GlossTrack.from_dict(doc, source=ctx.folder(st).uri(GLOSS_TRACK)))
            ready.append(st)
        guard(st, "compose", load)
    if not ready:
        return
    for st, tr in batched("compose", ready, tracks, lambda _sts, trs: mod.compose_tracks(trs, ctx.settings)):
        def write(st: VideoState = st, tr=tr) -> None:
            st.outputs["transcript"] = ctx.put_json(ctx.folder(st), TRANSCRIPT, tr.to_dict(), st)
            st.detection["sentences"] = len(tr.sentences)
            if tr.fallbacks:  # the configured composer failed for these: the run summary says how many and why
                st.detection["rules_fallbacks"] = dict(tr.fallbacks)
        guard(st, "compose", write)


def speak_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """Captions (SRT, WebVTT) and the narration track, through the one render path."""
    todo = [st for st in states if st.active]
    if not todo:
        return
    errors: list = []
    for st in todo:
        def one(st: VideoState = st) -> None:
            folder = ctx.folder(st)
            track = GlossTrack.from_dict(_json(st, ctx, GLOSS_TRACK, recognize_videos), source=folder.uri(GLOSS_TRACK))
            tr = Transcript.from_dict(_json(st, ctx, TRANSCRIPT, compose_videos), source=folder.uri(TRANSCRIPT))
            dur = st.duration_ms or track.duration_ms
            if not dur and not tr.no_signing:
                raise InputError("the video duration is unknown, so captions cannot be timed", source=st.input_uri)
            stored = {n for n in ("srt", "vtt", "narration") if folder.exists(RESULT_FILES[n])}
            with ctx.workdir("speak") as d:
                made = render_speech(tr, ctx.settings, d, duration_ms=dur or 0.0, track=track, skip=stored)
                for name, path in made.items():
                    ctx.put(folder, RESULT_FILES[name], path, st)
            if not tr.no_signing:
                st.outputs.update({n: folder.uri(RESULT_FILES[n]) for n in ("srt", "vtt", "narration")})
        guard(st, "speak", one, errors)
    raise_if_all_storage(len(todo), errors)


def mux_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """The original video stream copied, narration as the default audio, soft captions."""
    todo = [st for st in states if st.active]
    if not todo or stage_module("mux", "signbridge.mux", todo) is None:
        return
    errors: list = []
    for st in todo:
        def one(st: VideoState = st) -> None:
            folder = ctx.folder(st)
            if not folder.exists(VIDEO):
                with ctx.workdir("mux") as d:
                    video = ctx.fetch(st.input_uri, d)
                    files = {n: _file(st, ctx, RESULT_FILES[n], d) for n in ("srt", "vtt", "narration")
                             if n in st.outputs}
                    ctx.put(folder, VIDEO, render_video(video, files, d / "out" / VIDEO, ctx.settings))
            st.outputs["video"] = folder.uri(VIDEO)
        guard(st, "mux", one, errors)
    raise_if_all_storage(len(todo), errors)


def _file(st: VideoState, ctx: Context, name: str, d) -> object:
    """A stored caption or narration file of ``st``, checked (re-rendered by the speak step if damaged)."""
    folder = ctx.folder(st)
    return integrity.load_checked(st, folder, name, lambda: integrity.get_file(st, folder, name, d / name),
                                  lambda: speak_videos([st], ctx))


def finish_videos(states: Sequence[VideoState], ctx: Context) -> None:
    """Mark finished folders complete (``result.json``, written last): later runs skip them."""
    for st in states:
        if not st.active:
            continue

        def one(st: VideoState = st) -> None:
            honest_status(st)
            res = dataclasses.asdict(st.to_result())
            res["duration_ms"] = st.duration_ms
            res["run_id"] = ctx.run_id
            ctx.put_json(ctx.folder(st), RESULT, res)
        guard(st, "publish", one)
