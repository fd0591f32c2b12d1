"""The access token of SignBridge's local web pages (``review``, ``live``), as Jupyter does it.

Every HTTP request needs the session token: ``?token=`` once (which sets a same-site, HTTP-only cookie), the
cookie, or an ``Authorization: Bearer`` header; anything else gets a 403. The servers bind 127.0.0.1, but the
machine may be shared.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

COOKIE = "signbridge_review"


class TokenGate:
    """ASGI wrapper: 403 for any HTTP request without the token; a valid ``?token=`` sets the cookie."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token
        # cookies are per host, not per port: each server's cookie has its own name, so two review
        # servers on one machine do not overwrite each other's
        self.cookie_name = f"{COOKIE}_{hashlib.sha256(token.encode()).hexdigest()[:10]}"

    def _cookie(self, headers: dict[bytes, bytes]) -> str:
        for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie_name:
                return value
        return ""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        bearer = headers.get(b"authorization", b"").decode("latin-1").removeprefix("Bearer ").strip()
        ok = [hmac.compare_digest(t.encode(), self.token.encode()) for t in (query, bearer, self._cookie(headers)) if t]
        if not any(ok):
            body = b"403: this server needs its access token (open the URL it printed)\n"
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})
        if not query:
            return await self.app(scope, receive, send)
        cookie = f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def with_cookie(msg):
            if msg["type"] == "http.response.start":
                msg = {**msg, "headers": list(msg.get("headers") or []) + [(b"set-cookie", cookie)]}
            await send(msg)
        return await self.app(scope, receive, with_cookie)
