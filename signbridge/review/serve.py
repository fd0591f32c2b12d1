"""Run the review app with uvicorn on one socket and print its URL (with the access token) first."""
from __future__ import annotations

import secrets
import socket
import sys

from signbridge.errors import ConfigError
from signbridge.settings import Settings


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; binding before uvicorn starts lets port 0 pick a free port we can print."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror})",
                          hint="pick another --port, or --port 0 for any free one") from None
    sock.listen(64)
    return sock


def serve(results_uri: str, settings: Settings, *, host: str = "127.0.0.1", port: int = 8765,
          token: str | None = None) -> None:
    import uvicorn

    from signbridge.review.app import create_app
    from signbridge.review.results import Results

    results = Results(results_uri, settings)
    results.require_videos()
    token = token or secrets.token_urlsafe(24)
    app = create_app(results, token)
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"SignBridge review of {results.label}", flush=True)
    if results.run is not None and results.run.local is not None:
        print(f"    revisions and renders are saved in {results.uri}; each render also updates {results.run.local}",
              flush=True)
    print(f"    http://{shown}:{sock.getsockname()[1]}/?token={token}", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}: anyone who can reach it and has the URL can edit these results",
              file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
