"""The vision-language model behind ``--recognizer vlm``: loading, the prompt, the candidates' tokens.

The model is loaded through the probing lab's loader (:mod:`signbridge.probe.vlm`); its image processor and
tokenizer are loaded on their own, not through the model's processor class, because Qwen-VL processors also
build a video processor that needs torchvision, and frames are passed here as images. The prompt comes from
the model's own chat template with one image per frame; each image placeholder is expanded to as many image
tokens as the image processor's grid gives, as the processor class would.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from signbridge.errors import ConfigError, ModelError
from signbridge.recognize.vlm_score import FAMILIES, PackedCandidates, accepts, pack_candidates, score_batch

log = logging.getLogger(__name__)

QUESTION = ("These {n} pictures are frames, in time order, from a video of one sign in American Sign Language. "
            "Which English word or phrase does the sign mean? Answer with the word only, in lower case.")
END_TOKEN = "<|im_end|>"
IMAGE_TOKEN = "<|image_pad|>"
EXAMPLE_ID = "Qwen/Qwen3-VL-8B-Instruct"


def model_family(folder: Path, source: str) -> str:
    """The model type named in ``config.json``; a model of another family is refused before any weight loads."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except FileNotFoundError:
        raise ModelError("has no config.json, so it is not a Hugging Face model folder", source=source) from None
    except json.JSONDecodeError as e:
        raise ModelError(f"config.json is not valid JSON ({e})", source=source) from None
    family = str(cfg.get("model_type", ""))
    if family not in FAMILIES:
        raise ModelError(f"is a {family or 'untyped'!r} model; the vlm recogniser scores candidates with Qwen2-VL, "
                         "Qwen2.5-VL or Qwen3-VL models", source=source,
                         hint=f"set SIGNBRIDGE_VLM_MODEL to a folder or hub id of one, e.g. {EXAMPLE_ID}")
    return family


def model_identity(folder: Path) -> str:
    """What names the model's behaviour without reading its weights: config.json and the weight files' names
    and sizes (for the result folder's settings hash)."""
    h = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()


def _chat_template(folder: Path, tokenizer) -> str:
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text()
    if (folder / "chat_template.json").is_file():
        try:
            return str(json.loads((folder / "chat_template.json").read_text())["chat_template"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ModelError("chat_template.json holds no chat template", source=str(folder)) from None
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    raise ModelError("has no chat template (chat_template.jinja, chat_template.json or the tokenizer's)",
                     source=str(folder), hint="copy the model's files from its Hugging Face repo")


def _image_processor(folder: Path):
    """The model's image processor; Qwen's PIL one where transformers' auto class needs torchvision (5.17 does)."""
    try:
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    except ImportError:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        return Qwen2VLImageProcessorPil.from_pretrained(str(folder), local_files_only=True)


def _check_tokenizer(tokenizer, folder: Path, source: str) -> None:
    """The tokenizer must be the model's: it maps Qwen's image token to the id config.json names (transformers
    builds an empty tokenizer from a folder without tokenizer files instead of failing)."""
    want = json.loads((folder / "config.json").read_text()).get("image_token_id")
    got = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if want is None or got != want:
        raise ModelError(f"its tokenizer does not map the image token {IMAGE_TOKEN} to id {want} as config.json "
                         "says: the tokenizer files are missing or belong to another model", source=source,
                         hint="the folder needs tokenizer.json and tokenizer_config.json from the model's repo")


@dataclass
class VLMRecognizer:
    """A loaded Qwen-VL model, ready to score candidate glosses for frames of sign spans."""

    model: Any
    image_processor: Any
    tokenizer: Any
    template: str
    device: str
    name: str
    identity: str
    family: str
    _prompts: dict[int, list[int]] = field(default_factory=dict)
    _packed: dict[tuple[str, ...], PackedCandidates] = field(default_factory=dict)

    @property
    def image_token_id(self) -> int:
        return int(self.model.config.image_token_id)

    def prompt_ids(self, n_frames: int) -> list[int]:
        """The chat prompt for ``n_frames`` frames, one image placeholder token per frame, ending where the
        assistant's answer begins."""
        if n_frames not in self._prompts:
            messages = [{"role": "user", "content": [{"type": "image"}] * n_frames +
                         [{"type": "text", "text": QUESTION.format(n=n_frames)}]}]
            text = self.tokenizer.apply_chat_template(messages, chat_template=self.template, tokenize=False,
                                                      add_generation_prompt=True)
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if ids.count(self.image_token_id) != n_frames:
                raise ModelError(f"its chat template gives {ids.count(self.image_token_id)} image tokens for "
                                 f"{n_frames} images", source=self.name)
            self._prompts[n_frames] = ids
        return self._prompts[n_frames]

    def end_token_id(self) -> int:
        tok = self.tokenizer
        i = tok.convert_tokens_to_ids(END_TOKEN)
        if isinstance(i, int) and i != tok.unk_token_id:
            return i
        if tok.eos_token_id is None:
            raise ModelError("its tokenizer names no end-of-turn token", source=self.name)
        return int(tok.eos_token_id)

    def candidate_tokens(self, glosses: Sequence[str]) -> list[list[int]]:
        """Each candidate's answer tokens: the gloss as the answer (lower case) and the end-of-turn token."""
        end = self.end_token_id()
        return [list(self.tokenizer(answer_text(g), add_special_tokens=False)["input_ids"]) + [end] for g in glosses]

    def packed(self, glosses: Sequence[str]) -> PackedCandidates:
        key = tuple(glosses)
        if key not in self._packed:
            self._packed.clear()
            self._packed[key] = pack_candidates(self.candidate_tokens(glosses))
        return self._packed[key]

    def inputs(self, spans: Sequence[Sequence[np.ndarray]]) -> dict[str, Any]:
        """Prompt tensors for a batch of spans (each a list of RGB frames), left-padded, on the device."""
        import torch

        n = len(spans[0])
        if any(len(s) != n for s in spans):
            raise ValueError("every span of a batch needs the same number of frames")
        images = [np.ascontiguousarray(f) for s in spans for f in s]
        enc = self.image_processor(images=images, return_tensors="pt")
        grid = enc["image_grid_thw"]
        merge = int(getattr(self.image_processor, "merge_size", 2))
        counts = (grid.prod(-1) // (merge * merge)).tolist()
        prompt = self.prompt_ids(n)
        rows = []
        for i in range(len(spans)):
            it = iter(counts[i * n:(i + 1) * n])
            row: list[int] = []
            for t in prompt:
                row.extend([t] * next(it) if t == self.image_token_id else [t])
            rows.append(row)
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.end_token_id()
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        out = {"input_ids": ids, "attention_mask": mask, "pixel_values": enc["pixel_values"], "image_grid_thw": grid}
        if accepts(self.model.model.forward, "mm_token_type_ids"):
            out["mm_token_type_ids"] = (ids == self.image_token_id).int()
        out = {k: v.to(self.device) for k, v in out.items()}
        out["pixel_values"] = out["pixel_values"].to(self.model.dtype)
        return out

    def loglik(self, spans: Sequence[Sequence[np.ndarray]], glosses: Sequence[str]) -> np.ndarray:
        """(len(spans), len(glosses)) log-likelihood of each gloss as the answer for each span's frames."""
        import torch

        with torch.inference_mode():
            return score_batch(self.model, self.inputs(spans), self.packed(glosses))


def answer_text(gloss: str) -> str:
    return gloss.replace("_", " ").strip().lower()


_CACHE: dict[tuple, VLMRecognizer] = {}


def load_vlm_recognizer(settings) -> VLMRecognizer:
    """The VLM of ``settings.vlm_model`` on ``settings.device``; loaded once per process and settings."""
    if not settings.vlm_model:
        raise ConfigError("--recognizer vlm and hybrid need a vision-language model, and none is set",
                          hint=f"set SIGNBRIDGE_VLM_MODEL (or --vlm-model) to a local folder or a hub id such as "
                               f"{EXAMPLE_ID}")
    from signbridge.probe.vlm import load_model_weights, resolve_device, resolve_model_folder

    folder = resolve_model_folder(settings.vlm_model, what="vision-language model")
    family = model_family(folder, str(settings.vlm_model))
    device = resolve_device(settings.device)
    key = (str(folder.resolve()), device, model_identity(folder))
    if key in _CACHE:
        return _CACHE[key]
    from transformers import AutoTokenizer

    try:
        image_processor = _image_processor(folder)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"its image processor or tokenizer cannot be loaded: {str(e).splitlines()[0][:300]}",
                         source=str(settings.vlm_model),
                         hint="the folder needs preprocessor_config.json and the tokenizer files of the model's "
                              "repo") from None
    _check_tokenizer(tokenizer, folder, str(settings.vlm_model))
    template = _chat_template(folder, tokenizer)
    model, _ = load_model_weights(folder, device, "auto", attn_implementation="sdpa")
    rec = VLMRecognizer(model=model, image_processor=image_processor, tokenizer=tokenizer, template=template,
                        device=device, name=str(settings.vlm_model), identity=key[2], family=family)
    log.info("vlm recogniser: %s (%s) on %s, %s", rec.name, family, device, model.dtype)
    _CACHE.clear()
    _CACHE[key] = rec
    return rec
