"""The live page (``--serve``): rolling captions and the voice, over Server-Sent Events.

The page and its one event stream sit behind the same access token as ``signbridge review``
(:class:`~signbridge.review.gate.TokenGate`) on 127.0.0.1. A page that joins late gets the captions
committed so far, then everything as it happens; audio is never replayed. uvicorn runs on a thread of the
live process and stops when the stream ends.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import threading
from pathlib import Path

from signbridge.live.events import Hub

STATIC = Path(__file__).with_name("static")
FILES = {"live.html": "text/html", "live.js": "text/javascript", "live.css": "text/css"}
KEEPALIVE_S = 15.0


def sse(kind: str, doc: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(doc)}\n\n"


def create_app(hub: Hub, token: str, title: str):
    from starlette.applications import Starlette
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    from signbridge.review.gate import TokenGate

    async def static(request):
        name = request.path_params.get("name", "live.html")
        if name not in FILES:
            return Response("not found\n", status_code=404)
        body = (STATIC / name).read_bytes()
        if name == "live.html":
            body = body.replace(b"{{title}}", title.replace("&", "&amp;").replace("<", "&lt;").encode())
        return Response(body, media_type=FILES[name], headers={"cache-control": "no-store"})

    async def events(request):
        loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()

        def push(kind: str, doc: dict) -> None:
            try:
                loop.call_soon_threadsafe(q.put_nowait, (kind, doc))
            except RuntimeError:  # the server's loop is gone: nobody to tell
                pass

        history = hub.subscribe(push)

        async def stream():
            try:
                yield ": connected\n\n"
                for ev in history:
                    yield sse(ev["type"], ev)
                while True:
                    try:
                        kind, doc = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield sse(kind, doc)
                    if kind == "end":
                        return
            finally:
                hub.unsubscribe(push)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    routes = [Route("/", static), Route("/static/{name}", static), Route("/events", events)]
    return TokenGate(Starlette(routes=routes), token)


class PageServer:
    """uvicorn on a thread, on a socket bound before it starts (so ``--port 0`` can be printed)."""

    def __init__(self, hub: Hub, title: str, host: str = "127.0.0.1", port: int = 8766):
        import uvicorn

        from signbridge.review.serve import bind

        self.token = secrets.token_urlsafe(24)
        self.sock = bind(host, port)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.sock.getsockname()[1]}/?token={self.token}"
        config = uvicorn.Config(create_app(hub, self.token, title), log_level="warning", access_log=False,
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="live-page", daemon=True)

    def start(self) -> "PageServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()
