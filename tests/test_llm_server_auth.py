"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 that demands an API key (as `vllm serve
--api-key` does) and answers 429, then 503, before it answers: the key is sent, busy answers are retried with
backoff, and whatever falls back to the rules grammar is counted, with why, in the run's summary.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from signbridge.compose import compose_tracks
from signbridge.compose.serve import rules_responder
from signbridge.records import GlossSpan, GlossTrack
from signbridge.settings import load_settings

KEY = "sk-test-0123456789"


class BusyKeyedServer:
    """Demands `Authorization: Bearer KEY` (401 otherwise); each chat request is answered with the statuses in
    ``first`` (429 with Retry-After: 0, then 503 without, by default) before the rules grammar's sentence."""

    def __init__(self, first=(429, 503)):
        self.first, self.attempts, self.auth = list(first), {}, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, doc, headers=()):
                body = json.dumps(doc).encode()
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _keyed(self) -> bool:
                server.auth.append(self.headers.get("Authorization"))
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    self._send(401, {"error": "Unauthorized"})
                    return False
                return True

            def do_GET(self):  # noqa: N802
                if self._keyed():
                    self._send(200, {"object": "list", "data": [{"id": "busy-model", "object": "model"}]})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._keyed():
                    return
                who = body["messages"][-1]["content"]
                n = server.attempts[who] = server.attempts.get(who, 0) + 1
                if n <= len(server.first):
                    code = server.first[n - 1]
                    self._send(code, {"error": {"message": "busy"}}, [("Retry-After", "0")] if code == 429 else [])
                    return
                text = rules_responder(body["messages"], 64)
                self._send(200, {"id": "x", "object": "chat.completion", "model": "busy-model",
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _track() -> GlossTrack:
    spans = [GlossSpan(0, 400, "IX-1p", "gloss", 0.9), GlossSpan(450, 900, "like", "gloss", 0.9),
             GlossSpan(3000, 3400, "book", "gloss", 0.9), GlossSpan(3450, 3900, "IX-1p", "gloss", 0.9),
             GlossSpan(3950, 4300, "read", "gloss", 0.9)]
    return GlossTrack(source_uri="file:///v.mp4", sha256="cd" * 32, model_name="m", model_version="1", spans=spans,
                      duration_ms=5000.0)


def _settings(tmp_path, url, **env):
    return load_settings(env={"SIGNBRIDGE_COMPOSER": "vllm", "SIGNBRIDGE_LLM_URL": url, **env},
                         home=str(tmp_path / "home"))


def test_the_key_is_sent_and_busy_answers_are_retried(tmp_path):
    with BusyKeyedServer() as srv:
        stats: list = []
        (tr,) = compose_tracks([_track()], _settings(tmp_path, srv.url, SIGNBRIDGE_LLM_API_KEY=KEY), use_cache=False,
                               stats_out=stats)
    assert tr.backend == "vllm" and tr.fallback_from is None and tr.fallbacks == {}
    assert [s.text for s in tr.sentences] == ["I like.", "I read book."]
    assert stats[0].generated == 2 and stats[0].fallbacks == {}
    assert sorted(srv.attempts.values()) == [3, 3]  # 429, 503, then the answer, for each sentence
    assert set(srv.auth) == {f"Bearer {KEY}"}  # on every request, /v1/models included


def test_openai_api_key_is_the_fallback_variable(tmp_path):
    assert load_settings(env={"OPENAI_API_KEY": "a"}).llm_api_key == "a"
    assert load_settings(env={"OPENAI_API_KEY": "a", "SIGNBRIDGE_LLM_API_KEY": "b"}).llm_api_key == "b"
    assert "sk-secret-xyz" not in repr(load_settings(env={"SIGNBRIDGE_LLM_API_KEY": "sk-secret-xyz"}))  # not in a repr
    with BusyKeyedServer(first=()) as srv:
        (tr,) = compose_tracks([_track()], _settings(tmp_path, srv.url, OPENAI_API_KEY=KEY), use_cache=False)
    assert tr.backend == "vllm" and not tr.fallbacks


def test_a_missing_key_is_in_the_run_summary(tmp_path):
    """No key: every sentence comes from the rules grammar, and `run`/`process` say so and why."""
    from signbridge.pipeline.context import Context
    from signbridge.pipeline.report import summary_table, video_lines
    from signbridge.pipeline.state import VideoState
    from signbridge.pipeline.steps import compose_videos

    with BusyKeyedServer() as srv:
        settings = _settings(tmp_path, srv.url)
        ctx = Context(settings, output=str(tmp_path / "out"))
        st = VideoState("/videos/v.mp4", folder="v1")
        ctx.put_json(ctx.folder(st), "gloss_track.json", _track().to_dict())
        compose_videos([st], ctx)
    assert st.detection["sentences"] == 2
    (why, n), = st.detection["rules_fallbacks"].items()
    assert n == 2 and "HTTP 401" in why and "SIGNBRIDGE_LLM_API_KEY" in why, why
    transcript = json.loads((tmp_path / "out" / "v1" / "transcript.json").read_text())
    assert transcript["composer"]["fallback_from"] == "vllm" and "fallbacks" not in transcript
    v = {"input_uri": st.input_uri, "status": "ok", "outputs": st.outputs, "detection": st.detection,
         "stage_timings": st.timings}
    lines = "\n".join(video_lines(v))
    assert "composer: 2 of 2 sentence(s) fell back to the rules grammar: composer vllm unavailable" in lines
    assert "HTTP 401" in lines and "SIGNBRIDGE_LLM_API_KEY" in lines
    assert "2 of 2 sentence(s) fell back to rules" in summary_table({"videos": [v]})


@pytest.mark.parametrize("status", [503, 429])
def test_a_server_that_stays_busy_is_given_up_on_per_sentence(tmp_path, status):
    with BusyKeyedServer(first=[status] * 10) as srv:
        backend_settings = _settings(tmp_path, srv.url, SIGNBRIDGE_LLM_API_KEY=KEY)
        from signbridge.compose.vllm_backend import HttpBackend

        backend = HttpBackend(srv.url, api_key=KEY, backoff_s=0.05)
        stats: list = []
        (tr,) = compose_tracks([_track()], backend_settings, backend=backend, use_cache=False, stats_out=stats)
    assert tr.backend == "vllm" and tr.fallback_from is None  # the server is there: sentence by sentence
    (why, n), = tr.fallbacks.items()
    assert n == 2 and why.startswith(f"vllm: HTTP {status} from the LLM server after 5 tries"), why
    assert sorted(srv.attempts.values()) == [5, 5]
    assert [s.text for s in tr.sentences] == ["I like.", "I read book."]  # the rules grammar's
