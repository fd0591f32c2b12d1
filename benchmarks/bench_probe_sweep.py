"""What a full LLaVA-1.5-7B probing sweep costs: a random-weight model of the exact 7B shape.

Real weights cannot be downloaded where this project is built, so this builds
``LlavaConfig`` with the llava-1.5-7b shapes (CLIP ViT-L/14-336 tower, 32-layer
4096-wide Llama), random weights, saves it, loads it back through
``load_vlm`` (the path a user with weights takes), then times activation
extraction + generation over N synthetic images and the probes over all 33
layers. Accuracies are meaningless; the seconds and bytes are the point.

    python benchmarks/bench_probe_sweep.py --images 480 --device cuda
    python benchmarks/bench_probe_sweep.py --small     # CPU smoke run (hidden 256, 4 layers)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signbridge.bench import machine_info, write_results  # noqa: E402


def build(out: Path, small: bool, device: str) -> Path:
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from signbridge.probe.tiny import LLAVA_TEMPLATE, _tokenizer

    tok, vocab = _tokenizer(["<image>"])
    size = 112 if small else 336
    ip = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=LLAVA_TEMPLATE)
    if small:
        vc = CLIPVisionConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                              image_size=size, patch_size=14, projection_dim=128)
        tc = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4)
    else:  # llava-hf/llava-1.5-7b-hf shapes
        vc = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768)
        tc = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=32)
    tc.pad_token_id, tc.bos_token_id, tc.eos_token_id = tok.pad_token_id, tok.bos_token_id, tok.eos_token_id
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=vocab["<image>"],
                      image_seq_length=(size // 14) ** 2)
    with torch.device(device):
        model = LlavaForConditionalGeneration(cfg)
    model.to(torch.bfloat16 if device.startswith("cuda") else torch.float32)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
    del model
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=480)
    ap.add_argument("--classes", type=int, default=24)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--small", action="store_true", help="a small random model instead of the 7B shape")
    ap.add_argument("--workdir", default=None, help="where the random model is written (needs ~14 GB for 7B)")
    ap.add_argument("--json-out", dest="json", metavar="PATH",
                    default=str(Path(__file__).parent / "results" / "probe_sweep.json"),
                    help="where the JSON results go (was --json PATH: signbridge's --json means JSON on stdout)")
    ap.add_argument("--json", dest="json", help=argparse.SUPPRESS)  # deprecated spelling
    args = ap.parse_args()

    from signbridge.probe.cache import Activations
    from signbridge.probe.probes import probe_all
    from signbridge.probe.vlm import extract, load_vlm, resolve_device

    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    protos = rng.integers(0, 255, (args.classes, 28, 28))
    labels = np.array([chr(65 + i % args.classes) for i in range(args.images)])
    images = [np.repeat(np.clip(protos[i % args.classes] + rng.normal(0, 50, (28, 28)), 0, 255)
                        .astype(np.uint8)[:, :, None], 3, axis=2) for i in range(args.images)]
    row: dict = {"model": "random llava-1.5-7b shape" if not args.small else "random small llava",
                 "device": device, "images": args.images, "classes": args.classes, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        t0 = time.perf_counter()
        path = build(Path(tmp) / "model", args.small, device)
        row["build_save_s"] = round(time.perf_counter() - t0, 1)
        row["weights_gb"] = round(sum(f.stat().st_size for f in path.glob("*.safetensors")) / 1e9, 2)
        t0 = time.perf_counter()
        vlm = load_vlm(path, device)
        row["load_s"] = round(time.perf_counter() - t0, 1)
        row["dtype"] = vlm.dtype
        if device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        acts, answers = extract(vlm, images, poolings=("last", "mean"), batch_size=args.batch_size,
                                max_new_tokens=12)
        row["extract_generate_s"] = round(time.perf_counter() - t0, 1)
        row["images_per_s"] = round(args.images / row["extract_generate_s"], 1)
        if device.startswith("cuda"):
            row["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 1)
        row["layers"] = int(acts["last"].shape[0])
        row["hidden"] = int(acts["last"].shape[2])
        with tempfile.TemporaryDirectory() as cd:
            a = Activations(acts["last"], list(range(row["layers"])), labels, [str(i) for i in range(args.images)], "last")
            row["cache_mb_per_pooling"] = round(a.save(Path(cd) / "a.npz").stat().st_size / 1e6, 1)
        del vlm
    t0 = time.perf_counter()
    res = probe_all(acts, list(range(row["layers"])), labels, repeats=args.repeats, folds=args.folds,
                    jobs=args.jobs)
    row["probe_s"] = round(time.perf_counter() - t0, 1)
    row["probe_fits"] = len(res.scores) * args.repeats * args.folds * 2
    print(f"{'metric':<24}value")
    for k, v in row.items():
        print(f"{k:<24}{v}")
    write_results(args.json, {**machine_info(), **row})
    return 0


if __name__ == "__main__":
    sys.exit(main())
