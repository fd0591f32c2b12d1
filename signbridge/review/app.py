"""The review web app: Starlette routes over :class:`~signbridge.review.results.Results`.

Every request needs the session token (``?token=`` once, then a same-site cookie, or an
``Authorization: Bearer`` header), as Jupyter does: the server may run on a shared
machine. Pages are plain HTML + JS from ``static/`` (no build step, no CDN).
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from signbridge.errors import InputError, SignBridgeError
from signbridge.pipeline.layout import content_type
from signbridge.review import revise as rz
from signbridge.review import revisions as rv
from signbridge.review.gate import TokenGate
from signbridge.review.results import Results
from signbridge.settings import Settings

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css", "index.html": "text/html",
                "video.html": "text/html"}
RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class Handlers:
    """The routes' handlers over one results root; blocking store work runs in the thread pool."""

    def __init__(self, results: Results):
        self.results, self.settings = results, results.settings
        self.vocab = rv.vocabulary(results.settings)
        self.render_locks: dict[str, threading.Lock] = {}

    async def static(self, request):
        from starlette.responses import Response

        name = request.path_params.get("name") or {"/": "index.html"}.get(request.url.path, "video.html")
        if name not in STATIC_FILES:
            return Response("not found\n", status_code=404)
        return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                        headers={"cache-control": "no-store"})

    async def list_videos(self, request):
        return {"results": self.results.label, "videos": await _threaded(self.results.videos)}

    async def video(self, request):
        return await _threaded(_detail, self.results, request.path_params["vid"], self.vocab)

    async def preview(self, request):
        body = await _json(request)
        return {"sentences": await _threaded(_preview, body.get("spans"), self.settings)}

    async def save(self, request):
        return 201, await _threaded(_save, self.results, request.path_params["vid"], await _json(request), self.vocab)

    async def restore(self, request):
        vid, body = request.path_params["vid"], await _json(request)
        summary = await _threaded(rz.restore, self.results.folder(vid).uri(), str(body.get("revision") or ""),
                                  self.settings, reviewer=str(body.get("reviewer") or ""))
        self.results.queue(vid, summary["id"])
        return 201, summary

    async def render(self, request):
        vid = request.path_params["vid"]
        return await _threaded(_render, self.results, vid, self.render_locks.setdefault(vid, threading.Lock()))

    async def source(self, request):
        src = await _threaded(self.results.source, request.path_params["vid"])
        return _ranged(src, request.headers.get("range"))

    async def captions(self, request):
        from starlette.responses import Response

        folder = self.results.folder(request.path_params["vid"])
        rid = request.path_params.get("rid")
        key = f"{rz.RENDERS}/{_render_id(rid)}/{rz.VTT}" if rid else rz.VTT
        text = folder.get_bytes(key) if folder.exists(key) else b"WEBVTT\n"
        return Response(text, media_type="text/vtt", headers={"cache-control": "no-store"})

    async def rendered(self, request):
        from starlette.responses import Response

        vid, rid, name = (request.path_params[k] for k in ("vid", "rid", "name"))
        folder = self.results.folder(vid)
        key = f"{rz.RENDERS}/{_render_id(rid)}/{name}"
        if name not in rz.OUTPUTS or not folder.exists(key):
            return Response("not found\n", status_code=404)
        return Response(folder.get_bytes(key), media_type=content_type(name))


async def _threaded(fn, *args, **kw):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kw)


def _api(fn):
    """A handler returning a document (or (status, document)) as JSON; user errors as JSON with a status."""
    from starlette.responses import JSONResponse, Response

    async def handler(request):
        try:
            out = await fn(request)
        except InputError as e:
            status = 404 if e.message.startswith(("no video", "no revision")) else 400
            return JSONResponse({"error": str(e)}, status_code=status)
        except SignBridgeError as e:
            return JSONResponse({"error": str(e)}, status_code=500)
        if isinstance(out, Response):
            return out
        status, doc = out if isinstance(out, tuple) else (200, out)
        return JSONResponse(doc, status_code=status)
    return handler


def create_app(results: Results, token: str):
    """The ASGI app for one results root."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    h = Handlers(results)
    routes = [Route("/", h.static), Route("/v/{vid}", h.static), Route("/static/{name}", h.static),
              Route("/api/videos", _api(h.list_videos)), Route("/api/videos/{vid}", _api(h.video)),
              Route("/api/videos/{vid}/preview", _api(h.preview), methods=["POST"]),
              Route("/api/videos/{vid}/revisions", _api(h.save), methods=["POST"]),
              Route("/api/videos/{vid}/restore", _api(h.restore), methods=["POST"]),
              Route("/api/videos/{vid}/render", _api(h.render), methods=["POST"]),
              Route("/media/{vid}/source", _api(h.source)),
              Route("/media/{vid}/captions.vtt", _api(h.captions)),
              Route("/media/{vid}/renders/{rid}/captions.vtt", _api(h.captions)),
              Route("/media/{vid}/renders/{rid}/{name}", _api(h.rendered))]
    return TokenGate(Starlette(routes=routes), token)


def _render_id(rid: str) -> str:
    if rid != rz.MODEL and not rv.REVISION_ID.fullmatch(rid or ""):
        raise InputError(f"{rid!r} is not a revision id")
    return rid


async def _json(request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError as e:
        raise InputError(f"the request body is not JSON ({e})") from None
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    return body


def _detail(results: Results, vid: str, vocab: list[str]) -> dict[str, Any]:
    from signbridge.records import Transcript

    folder = results.folder(vid)
    rid, doc = rv.latest(folder)
    revs = [rv.summary(rv.load_revision(folder, i)) for i in rv.revision_ids(folder)]
    tr = Transcript.from_dict(json.loads(folder.get_bytes(rz.TRANSCRIPT)), source=folder.uri(rz.TRANSCRIPT))
    summary = results.summary(vid)
    return {**summary, "revision": rid, "track": doc, "revisions": revs, "current": rz.current(folder),
            "sentences": [{"start_ms": s.start_ms, "end_ms": s.end_ms, "text": s.text} for s in tr.sentences],
            "vocabulary": vocab, "low_confidence": results.settings.low_confidence}


def _spans(raw: Any):
    from signbridge.records import GlossSpan, TopK

    if not isinstance(raw, list):
        raise InputError("'spans' must be a list")
    try:
        return [GlossSpan(start_ms=float(s["start_ms"]), end_ms=float(s["end_ms"]), label=str(s["label"]),
                          kind=s["kind"], confidence=float(s["confidence"]),
                          top_k=[TopK(label=str(t["label"]), prob=float(t["prob"])) for t in s.get("top_k", [])])
                for s in raw]
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"a span is malformed ({type(e).__name__}: {e})") from None


def _preview(raw: Any, settings: Settings) -> list[dict[str, Any]]:
    """English for the edited spans with the rules composer (instant, and what a reviewer can reason about)."""
    from signbridge.compose import compose_tracks
    from signbridge.records import GlossTrack

    spans = sorted(_spans(raw), key=lambda s: s.start_ms)
    track = GlossTrack(source_uri="preview", sha256="0" * 64, model_name="review", model_version="0", spans=spans)
    (tr,) = compose_tracks([track], settings.replace(composer="rules"), use_cache=False)
    return [{"start_ms": s.start_ms, "end_ms": s.end_ms, "text": s.text, "uncertain": s.uncertain}
            for s in tr.sentences]


def _save(results: Results, vid: str, body: dict[str, Any], vocab: list[str]) -> dict[str, Any]:
    folder = results.folder(vid)
    original = rv.original_track(folder)
    doc = original.to_dict()
    doc["spans"] = body.get("spans")
    doc["review"] = {"sources": body.get("sources"), "new_glosses": body.get("new_glosses") or []}
    reviewed = rv.parse_reviewed(doc, original, set(vocab), f"the edit of {vid} from the review page")
    based_on = body.get("based_on") or None
    summary = rv.save_revision(folder, reviewed, reviewer=str(body.get("reviewer") or ""), based_on=based_on)
    results.queue(vid, summary["id"])
    return summary


def _render(results: Results, vid: str, lock: threading.Lock) -> dict[str, Any]:
    """Render the newest revision now (one render of a video at a time), as the DAG would; a local copy
    being reviewed gets the new files."""
    folder = results.folder(vid)
    with lock:
        rid, doc = rv.latest(folder)
        if rid is None:
            raise InputError("this video has no reviewed revision to render yet")
        out = rz.revise_folder(folder.uri(), doc, results.settings, source=folder.uri(f"{rv.REVISIONS}/{rid}.json"))
        results.dequeue(vid, rid)
        return {**out, **results.refresh_local(vid)}


def _ranged(src, header: str | None):
    """A 206 for ``Range: bytes=a-b`` (what <video> sends), else the whole file streamed."""
    from starlette.responses import Response, StreamingResponse

    base = {"accept-ranges": "bytes", "cache-control": "no-store"}
    if not header:
        return StreamingResponse(src.read(0, src.size - 1), media_type=src.content_type,
                                 headers={**base, "content-length": str(src.size)})
    m = RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return Response(status_code=416, headers={"content-range": f"bytes */{src.size}"})
    if m.group(1):
        start, end = int(m.group(1)), int(m.group(2) or src.size - 1)
    else:
        start, end = max(0, src.size - int(m.group(2))), src.size - 1
    end = min(end, src.size - 1)
    if start > end:
        return Response(status_code=416, headers={"content-range": f"bytes */{src.size}"})
    return StreamingResponse(src.read(start, end), status_code=206, media_type=src.content_type,
                             headers={**base, "content-range": f"bytes {start}-{end}/{src.size}",
                                      "content-length": str(end - start + 1)})
