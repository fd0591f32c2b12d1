"""A fault proxy on 127.0.0.1 in front of the S3 store, for the soak (bench_soak.py).

Passes every request through unchanged (the Host header too, so SigV4 signatures still hold) until
told to ``throttle``: then each request is either answered ``503 SlowDown`` at once or stalled for a
while before it is passed on, as a throttling or overloaded store does. When the store itself is
stopped, the connection is closed without an answer (what a client sees from a dead endpoint).
"""
from __future__ import annotations

import http.client
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class FaultProxy:
    def __init__(self, upstream_port: int, seed: int = 0, stall_s: float = 2.0, slowdown_share: float = 0.5):
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.stall_s, self.slowdown_share = stall_s, slowdown_share
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {"passed": 0, "slowdown": 0, "stalled": 0, "refused": 0}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if proxy.mode == "throttle":
                    with proxy.lock:
                        slow = proxy.rng.random() < proxy.slowdown_share
                    if slow:
                        proxy._count("slowdown")
                        self.send_response(503, "Slow Down")
                        self.send_header("Content-Type", "application/xml")
                        self.send_header("Content-Length", str(len(SLOWDOWN)))
                        self.end_headers()
                        self.wfile.write(SLOWDOWN)
                        return
                    proxy._count("stalled")
                    time.sleep(proxy.stall_s)
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                    conn.request(self.command, self.path, body=body,
                                 headers={k: v for k, v in self.headers.items() if k.lower() not in HOP})
                    res = conn.getresponse()
                    data = res.read()
                    conn.close()
                except OSError:  # the store is down: the client sees a dropped connection, as from a dead host
                    proxy._count("refused")
                    self.close_connection = True
                    return
                proxy._count("passed")
                self.send_response(res.status, res.reason)
                for k, v in res.getheaders():
                    if k.lower() not in HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    def _count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FaultProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
