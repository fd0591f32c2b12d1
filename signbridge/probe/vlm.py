"""Hugging Face vision-language model adapter: load from a local folder, hook every decoder block.

Works for any model ``AutoModelForImageTextToText`` loads (LLaVA-1.5, Qwen2-VL,
Qwen3-VL, ...). One ``generate()`` call per batch yields both the prompt's
per-layer activations (captured in the prefill pass) and the model's own
answer, which is what the latent-versus-generated gap compares.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from signbridge.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "Which ASL letter is this hand sign?"


def resolve_device(name: str = "auto") -> str:
    """The device as the string ``from_pretrained``'s ``device_map`` takes."""
    from signbridge.torch_device import torch_device

    return str(torch_device(name))


@dataclass
class LoadedVLM:
    model: Any
    processor: Any
    device: str
    path: str
    dtype: str
    quantization: str | None


def resolve_model_folder(name: str | Path, *, what: str = "model") -> Path:
    """A local folder, or a Hugging Face hub id (``org/name``) resolved through the hub cache.

    A hub id not in the cache is downloaded unless ``HF_HUB_OFFLINE`` is set, the way ``from_pretrained``
    treats ids; a path that does not exist and is no hub id is a clear error, never a download.
    """
    p = Path(str(name)).expanduser()
    if p.is_dir():
        return p
    text = str(name)
    if p.exists():
        raise ModelError(f"the {what} must be a folder, not a file", source=text)
    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text) and not text.startswith((".", "/")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(snapshot_download(text, local_files_only=True))
        except LocalEntryNotFoundError:
            if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
                raise ModelError(f"the {what} {text!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set",
                                 source=text, hint=f"`huggingface-cli download {text}` on a machine with access, "
                                                   "or pass a local folder") from None
        except Exception as e:  # noqa: BLE001 - an unusable cache entry: say so instead of a traceback
            raise ModelError(f"cannot read the {what} from the Hugging Face cache: {str(e).splitlines()[0][:200]}",
                             source=text) from None
        log.warning("%s is not in the Hugging Face cache: downloading it", text)
        try:
            return Path(snapshot_download(text))
        except Exception as e:  # noqa: BLE001 - network, permissions, unknown id
            raise ModelError(f"cannot download the {what}: {str(e).splitlines()[0][:200]}", source=text,
                             hint="check the id and the network, or pass a local folder") from None
    raise ModelError("is not a folder", source=text,
                     hint="download the model first, e.g. `huggingface-cli download llava-hf/llava-1.5-7b-hf "
                          "--local-dir models/llava-1.5-7b-hf`, and pass that folder")


def torch_dtype_for(dtype: str, device: str):
    """``auto``: the checkpoint's own dtype on a GPU, float32 on the CPU."""
    import torch

    if dtype == "auto":
        return "auto" if device.startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise ConfigError(f"--dtype {dtype!r} is not one of auto, float32, float16, bfloat16") from None


def load_model_weights(p: Path, device: str, dtype: str = "auto", load_in_4bit: bool = False,
                       attn_implementation: str | None = None) -> tuple[Any, str | None]:
    """(model on ``device``, quantisation) through ``AutoModelForImageTextToText.from_pretrained``."""
    import torch
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = {"dtype": torch_dtype_for(dtype, device), "local_files_only": True}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    quant = None
    if load_in_4bit:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError("--load-in-4bit needs the bitsandbytes package, which is not installed",
                              hint="pip install bitsandbytes accelerate (on a CUDA machine), or drop --load-in-4bit")
        if not device.startswith("cuda"):
            raise ConfigError("--load-in-4bit needs a CUDA GPU", hint="drop --load-in-4bit on CPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        kwargs["device_map"] = {"": device}
        quant = "bnb-nf4"
    try:
        model = AutoModelForImageTextToText.from_pretrained(str(p), **kwargs)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise ModelError(f"cannot be loaded as a vision-language model: {str(e).splitlines()[0][:300]}",
                         source=str(p), hint="needs config.json, weights and processor files from the Hugging Face repo") from None
    if quant is None:
        model.to(device)
    model.eval()
    return model, quant


def load_vlm(path: str | Path, device: str = "auto", dtype: str = "auto", load_in_4bit: bool = False) -> LoadedVLM:
    """Load processor + model from a local folder through the standard ``from_pretrained`` path."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise ModelError("is not a folder", source=str(p),
                         hint="download the model first, e.g. `huggingface-cli download llava-hf/llava-1.5-7b-hf "
                              "--local-dir models/llava-1.5-7b-hf`, and pass that folder")
    if not (p / "config.json").is_file():
        raise ModelError("has no config.json, so it is not a Hugging Face model folder", source=str(p))
    device = resolve_device(device)
    torch_dtype_for(dtype, device)  # a bad --dtype is named before anything is read
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise ModelError(f"cannot be loaded as a vision-language model: {str(e).splitlines()[0][:300]}",
                         source=str(p), hint="needs config.json, weights and processor files from the Hugging Face repo") from None
    model, quant = load_model_weights(p, device, dtype, load_in_4bit)
    tok = getattr(processor, "tokenizer", None)
    if tok is None:
        raise ModelError("its processor has no tokenizer", source=str(p))
    tok.padding_side = "left"  # decoder-only batching: the prompt ends at the last position
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return LoadedVLM(model, processor, device, str(p), str(getattr(model, "dtype", dtype)), quant)


def decoder_layers(model) -> Sequence:
    """The text decoder's block list (``language_model.layers`` in LLaVA, Qwen-VL, ...)."""
    import torch.nn as nn

    cands = []
    try:
        dec = model.get_decoder()
        cands.append(getattr(dec, "layers", None))
    except Exception:  # noqa: BLE001 - exotic models: fall through to the search below
        pass
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and name.split(".")[-1] in ("layers", "h", "blocks") and \
                not re.search(r"vision|visual|image|encoder", name):
            cands.append(mod)
    for c in cands:
        if isinstance(c, nn.ModuleList) and len(c):
            return c
    raise ModelError(f"cannot find the decoder blocks of {type(model).__name__}",
                     hint="expected a ModuleList named language_model.layers")


def build_prompt(processor, question: str) -> str:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    if getattr(processor, "chat_template", None):
        return processor.apply_chat_template(messages, add_generation_prompt=True)
    token = getattr(processor, "image_token", "<image>")
    return f"USER: {token}\n{question} ASSISTANT:"


def image_token_id(model, processor) -> int | None:
    for obj, attr in ((model.config, "image_token_id"), (model.config, "image_token_index"),
                      (processor, "image_token_id")):
        v = getattr(obj, attr, None)
        if isinstance(v, int):
            return v
    return None


def _to_pil(img: np.ndarray, size: int | None):
    from PIL import Image

    im = Image.fromarray(img).convert("RGB")
    if size:
        im = im.resize((size, size), Image.BICUBIC)
    return im


def extract(vlm: LoadedVLM, images: Sequence[np.ndarray], *, prompt: str = DEFAULT_PROMPT,
            poolings: Sequence[str] = ("last", "mean"), batch_size: int = 8, image_size: int | None = None,
            generate: bool = True, max_new_tokens: int = 12, progress: bool = False):
    """Per-layer pooled activations {pooling: (layers+1, n, hidden)} and the decoded answers (or None)."""
    import torch

    from signbridge.probe.hooks import LayerRecorder, concat_batches

    text = build_prompt(vlm.processor, prompt)
    img_tok = image_token_id(vlm.model, vlm.processor)
    if "image" in poolings and img_tok is None:
        raise ConfigError("pooling 'image' needs the model's image token id, which its config does not name")
    layers = decoder_layers(vlm.model)
    chunks: dict[str, list[np.ndarray]] = {p: [] for p in poolings}
    answers: list[str] = []
    starts = range(0, len(images), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="forward", unit="batch")
    with LayerRecorder(layers, poolings) as rec, torch.inference_mode():
        for s in starts:
            batch = [_to_pil(im, image_size) for im in images[s:s + batch_size]]
            inputs = vlm.processor(images=batch, text=[text] * len(batch), return_tensors="pt", padding=True)
            inputs = inputs.to(vlm.device)
            if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
                inputs["pixel_values"] = inputs["pixel_values"].to(vlm.model.dtype)
            ids = inputs["input_ids"]
            rec.arm(inputs["attention_mask"], None if img_tok is None else ids == img_tok)
            if generate:
                out = vlm.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                         pad_token_id=vlm.processor.tokenizer.pad_token_id)
                answers.extend(vlm.processor.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True))
            else:
                vlm.model(**inputs)
            for p, a in rec.collect().items():
                chunks[p].append(a)
    acts = {p: concat_batches(v) for p, v in chunks.items()}
    return acts, ([a.strip() for a in answers] if generate else None)


# -- scoring the model's own answers -----------------------------------------------------------------
_LETTER_PATTERNS = [
    # an upper-case letter after "letter", or a lower-case one that is not an article ("letter is a sign")
    re.compile(r"\b[Ll]etter\s*(?:is\s*)?[:\-]?\s*[\"'“‘(]?(?:([A-Z])|([a-z])(?!\s+[a-z]))(?![A-Za-z])"),
    re.compile(r"^[\"'“‘(]?([A-Za-z])[\"'”’)]?(?:[.,:;!)\s]|$)(?!\s*[a-z])"),
]


def parse_letter(answer: str) -> str | None:
    """The letter an answer names ("B", "The letter is b.", "'C'"), or None ("peace sign", "A hand")."""
    a = answer.strip().strip("\"'“”‘’`*").strip()
    if len(a.rstrip(".!")) == 1 and a[0].isalpha():
        return a[0].upper()
    for pat in _LETTER_PATTERNS:
        m = pat.search(a)
        if m:
            return next(g for g in m.groups() if g).upper()
    return None


def score_answer(answer: str, label: str) -> bool:
    """Exact letter match for single-letter labels; the label as a whole word otherwise."""
    if len(label) == 1 and label.isalpha():
        return parse_letter(answer) == label.upper()
    return re.search(rf"(?<![\w-]){re.escape(label.lower())}(?![\w-])", answer.lower()) is not None
