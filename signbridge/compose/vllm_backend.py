"""``vllm`` backend: Llama-3.1-8B-Instruct (configurable) through vLLM, in process or over HTTP.

* ``SIGNBRIDGE_LLM_URL`` set: an OpenAI-compatible server (``vllm serve MODEL``) is
  called at ``/v1/chat/completions``; requests run concurrently so the server's
  continuous batching sees the whole run at once.
* otherwise: ``vllm.LLM(model=SIGNBRIDGE_LLM_MODEL).generate(prompts, SamplingParams(...))``
  over every group of the run in one call (needs the ``gpu`` extra and a GPU).

Neither vLLM nor Llama weights can be installed on the CPU machines this project
is tested on: the offline path is untested here; the HTTP client is tested
against a small OpenAI-compatible server (``signbridge.compose.serve``).
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from signbridge.compose import prompts
from signbridge.compose.backend import BackendUnavailable, Item
from signbridge.errors import ModelError
from signbridge.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
MAX_TOKENS = 64


def make_vllm_backend(settings: Settings):
    if settings.llm_url:
        return HttpBackend(settings.llm_url, settings.llm_model)
    try:
        import vllm  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(
            f"vllm is not installed ({e.name or e}) and SIGNBRIDGE_LLM_URL is not set",
            hint="on a GPU machine: pip install 'signbridge[gpu]', or run `vllm serve MODEL` and set SIGNBRIDGE_LLM_URL",
        ) from None
    return OfflineBackend(settings.llm_model or DEFAULT_MODEL)


class OfflineBackend:
    """vLLM in this process: one ``generate`` over all prompts of the run."""

    name = "vllm"
    prompt_version = prompts.PROMPT_VERSION

    def __init__(self, model: str):
        self.model = model
        self._llm: Any = None

    def _load(self):
        if self._llm is None:
            from vllm import LLM

            try:
                self._llm = LLM(model=self.model)
            except Exception as e:  # noqa: BLE001 - vLLM raises many types for a bad model/GPU
                raise ModelError(f"vLLM cannot load the model: {type(e).__name__}: {e}", source=self.model,
                                 hint="SIGNBRIDGE_LLM_MODEL must be a local model folder or an HF id present in the cache") from e
        return self._llm

    def generate(self, items: Sequence[Item]) -> list[str | None]:
        from vllm import SamplingParams

        llm = self._load()
        tok = llm.get_tokenizer()
        texts = [tok.apply_chat_template(prompts.messages(it.labels, it.confidences, it.draft), tokenize=False,
                                         add_generation_prompt=True) for it in items]
        outs = llm.generate(texts, SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS))
        return [prompts.clean_output(o.outputs[0].text) or None for o in outs]


class HttpBackend:
    """OpenAI-compatible chat completions client (stdlib only)."""

    name = "vllm"
    prompt_version = prompts.PROMPT_VERSION

    def __init__(self, url: str, model: str | None = None, timeout: float = 120.0, concurrency: int = 8):
        self.base = _api_base(url)
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.model = model or self._served_model()

    def _request(self, path: str, body: dict | None = None) -> dict:
        url = self.base + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            raise ModelError(f"HTTP {e.code} from the LLM server: {detail}", source=url) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise BackendUnavailable(f"cannot reach the LLM server: {reason}", source=url,
                                     hint="is `vllm serve` running there? check SIGNBRIDGE_LLM_URL") from None
        except ValueError:
            raise ModelError("the LLM server did not return JSON", source=url) from None

    def _served_model(self) -> str:
        models = self._request("/models").get("data") or []
        if not models:
            raise ModelError("the LLM server lists no models", source=self.base + "/models")
        return str(models[0].get("id"))

    def _one(self, item: Item) -> str | None:
        body = {"model": self.model, "messages": prompts.messages(item.labels, item.confidences, item.draft),
                "temperature": 0.0, "max_tokens": MAX_TOKENS}
        try:
            doc = self._request("/chat/completions", body)
        except ModelError as e:
            log.warning("LLM request failed for %s: %s", item.labels, e)
            return None
        try:
            return prompts.clean_output(doc["choices"][0]["message"]["content"]) or None
        except (KeyError, IndexError, TypeError):
            log.warning("LLM server returned no choices for %s", item.labels)
            return None

    def generate(self, items: Sequence[Item]) -> list[str | None]:
        if not items:
            return []
        # first request alone: an unreachable server fails the run fast (-> rules fallback)
        first = self._one(items[0])
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            rest = list(ex.map(self._one, items[1:]))
        return [first, *rest]


def _api_base(url: str) -> str:
    u = url.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if u.endswith(suffix):
            u = u[: -len(suffix)]
    return u if u.endswith("/v1") else u + "/v1"
