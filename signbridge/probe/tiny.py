"""A random-weight vision-language model small enough for CI, saved like a real checkpoint.

Nothing is downloaded: the tokenizer is built from a word list and the image
processor from its class with explicit sizes. The folder it writes is loaded
back through the same ``from_pretrained(local_path)`` code a user with real
LLaVA or Qwen2-VL weights runs, so the whole probing path is exercised; its
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
    """Write a random LLaVA-architecture model + processor to ``out_dir``.

    Only ``kind='llava'``: Qwen-VL processors also build a video processor,
    which needs torchvision (not installed here).
    """
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
