"""``vllm`` backend: Llama-3.1-8B-Instruct (configurable) through vLLM, in process or over HTTP.

* ``SIGNBRIDGE_LLM_URL`` set: an OpenAI-compatible server (``vllm serve MODEL``) is
  called at ``/v1/chat/completions``; requests run concurrently so the server's
  continuous batching sees the whole run at once. ``SIGNBRIDGE_LLM_API_KEY`` (else
  ``OPENAI_API_KEY``) goes as ``Authorization: Bearer``; 429 and 5xx answers are retried
  with backoff (``Retry-After`` honoured); a refused key (401/403) makes the whole run fall
  back to the rules grammar with that reason, which the run summary shows.
* otherwise: ``vllm.LLM(model=SIGNBRIDGE_LLM_MODEL).generate(prompts, SamplingParams(...))``
  over every group of the run in one call (needs the ``gpu`` extra and a GPU).

Neither vLLM nor Llama weights can be installed on the CPU machines this project
is tested on: the offline path is untested here; the HTTP client is tested
against a small OpenAI-compatible server (``signbridge.compose.serve``).
"""
from __future__ import annotations

import json
import logging
import time
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
RETRY_STATUS = (429, 500, 502, 503, 504)
MAX_WAIT_S = 30.0


def make_vllm_backend(settings: Settings):
    if settings.llm_url:
        return HttpBackend(settings.llm_url, settings.llm_model, api_key=settings.llm_api_key)
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

    def __init__(self, url: str, model: str | None = None, timeout: float = 120.0, concurrency: int = 8, *,
                 api_key: str | None = None, attempts: int = 5, backoff_s: float = 0.5):
        self.base = _api_base(url)
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.api_key = api_key
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.errors: list[str | None] = []  # after generate: why each None came back
        self.model = model or self._served_model()

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _request(self, path: str, body: dict | None = None) -> dict:
        """One call, retried on 429/5xx with exponential backoff (the server's Retry-After when it gives one)."""
        url = self.base + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        wait = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                         headers=self._headers())
            try:
                return self._send(req, url)
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                if e.code in RETRY_STATUS and attempt < self.attempts:
                    delay = _retry_after(e.headers.get("Retry-After"), wait)
                    log.info("LLM server answered %s (try %d of %d); again in %.1f s", e.code, attempt, self.attempts,
                             delay)
                    time.sleep(delay)
                    wait *= 2
                    continue
                if e.code in (401, 403):
                    raise BackendUnavailable(
                        f"the LLM server refused the request (HTTP {e.code}{': ' + detail if detail else ''})",
                        source=url, hint="check SIGNBRIDGE_LLM_API_KEY: the server did not accept it" if self.api_key
                        else "set SIGNBRIDGE_LLM_API_KEY (or OPENAI_API_KEY) to the server's key (vllm serve --api-key)"
                    ) from None
                tries = f" after {attempt} tries" if attempt > 1 else ""
                raise ModelError(f"HTTP {e.code} from the LLM server{tries}: {detail}", source=url) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _send(self, req: urllib.request.Request, url: str) -> dict:
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError:
            raise
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

    def _one(self, item: Item) -> tuple[str | None, str | None]:
        """(sentence, None), or (None, why not)."""
        body = {"model": self.model, "messages": prompts.messages(item.labels, item.confidences, item.draft),
                "temperature": 0.0, "max_tokens": MAX_TOKENS}
        try:
            doc = self._request("/chat/completions", body)
        except ModelError as e:
            log.warning("LLM request failed for %s: %s", item.labels, e)
            return None, e.message
        try:
            text = prompts.clean_output(doc["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            log.warning("LLM server returned no choices for %s", item.labels)
            return None, "the LLM server returned no choices"
        return (text, None) if text else (None, "the LLM server returned an empty sentence")

    def generate(self, items: Sequence[Item]) -> list[str | None]:
        if not items:
            return []
        # first request alone: an unreachable server or a refused key fails the run fast (-> rules fallback)
        first = self._one(items[0])
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            rest = list(ex.map(self._one, items[1:]))
        self.errors = [why for _text, why in (first, *rest)]
        return [text for text, _why in (first, *rest)]


def _retry_after(header: str | None, default: float) -> float:
    """Seconds to wait: the server's Retry-After (seconds) when it gives one, else ``default``; at most MAX_WAIT_S."""
    try:
        return min(max(float(header), 0.0), MAX_WAIT_S) if header is not None else min(default, MAX_WAIT_S)
    except ValueError:  # an HTTP date: not worth parsing for a few seconds
        return min(default, MAX_WAIT_S)


def _api_base(url: str) -> str:
    u = url.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if u.endswith(suffix):
            u = u[: -len(suffix)]
    return u if u.endswith("/v1") else u + "/v1"
