"""GPU cost of the VLM recogniser (``--recognizer vlm``) at Qwen3-VL-8B-Instruct's size, beside the classifier.

    python3 benchmarks/bench_recognize_vlm_gpu.py --out benchmarks/results/recognize_vlm-gpu.json   # GPU
    python3 benchmarks/bench_recognize_vlm_gpu.py --quick --out /tmp/vlm-quick.json                 # CPU smoke

No weights are downloaded: the model is Qwen3-VL-8B-Instruct's architecture, its config written out below from
the values of its public ``config.json`` (36 text layers of width 4096, 32 query / 8 key-value heads, a 27-layer
vision tower of width 1152 with DeepStack, vocabulary 151,936, untied lm_head: 8.8 B parameters), built with
random bf16 weights directly on the GPU. Random weights cost the same time and memory as trained ones; what
they answer is meaningless, so only time and memory are measured here, never accuracy.

What one span costs is measured through SignBridge's own scoring code (``signbridge.recognize.vlm_score``): a
prefill over the prompt (``--frames`` frames of ``--frame-size`` pixels through the vision tower, plus the
question) and one packed pass over all candidate answers (the shipped model's 300 shown glosses, their token
lengths as SmolLM2's BPE splits them, which stand in for Qwen's tokenizer: not on that machine), then the
log-likelihood of every candidate. Spans/s and peak GPU memory per batch size (``--batches``); a frames sweep
at one batch size; the share of the prefill; the CPU image preprocessing per span (when Pillow is there).
Frame decoding (ffmpeg) and model loading are not in these numbers.

In the same run: the shipped classifier's GPU throughput (``signbridge/models/asl-wlasl-hands-v3``), from its
``model.ts`` (TorchScript) when this torch can read it, else traced from ``weights.pt`` + ``config.json``;
``weights_sha256_of_model_ts`` records which model that is.

Needs only torch, transformers and numpy (and this checkout, for the scoring code and the shipped model).
Runs on CUDA or ROCm (the torch.cuda API); ``--quick`` runs a tiny Qwen3-VL on the CPU to test the script.
Made for one unattended GPU call: the classifier runs first, the JSON is rewritten after every part, a part
that fails is recorded under ``errors`` (exit status 1) without losing the others, and no new VLM point starts
after ``--budget-s`` seconds, so the whole run stays under about six minutes on an H100.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHIPPED = REPO / "signbridge" / "models" / "asl-wlasl-hands-v3"

# Qwen3-VL-8B-Instruct (https://huggingface.co/Qwen/Qwen3-VL-8B-Instruct, config.json), written out
QWEN3_VL_8B = {
    "model_type": "qwen3_vl",
    "architectures": ["Qwen3VLForConditionalGeneration"],
    "image_token_id": 151655, "video_token_id": 151656,
    "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "tie_word_embeddings": False,
    "text_config": {
        "model_type": "qwen3_vl_text", "vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 12288,
        "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
        "hidden_act": "silu", "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645, "tie_word_embeddings": False,
        "rope_theta": 5000000,
        "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": True},
    },
    "vision_config": {
        "model_type": "qwen3_vl", "depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
        "hidden_act": "gelu_pytorch_tanh", "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2,
        "temporal_patch_size": 2, "out_hidden_size": 4096, "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [8, 16, 24],
    },
}
IM_START, IM_END, NEWLINE = 151644, 151645, 198
# answer lengths (gloss tokens + the end-of-turn token) of the 300 shown glosses, split by SmolLM2's BPE
CANDIDATE_LENGTHS = {2: 219, 3: 73, 4: 8}
QUESTION_TOKENS = 42  # "These 4 pictures are frames, ... in lower case." (SmolLM2's BPE: 42)


def versions() -> dict:
    import torch
    import transformers

    v = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
         "numpy": np.__version__, "cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None)}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        v.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(p.total_memory / 2**30, 1),
                 gpu_count=torch.cuda.device_count())
    return v


def build_model(args, device):
    """Qwen3-VL at 8B (or tiny, --quick) with random weights, built on ``device`` (no CPU init of 8.8 B)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    if args.quick:
        from signbridge.probe.tiny import qwen_vl_config

        ids = {"<|image_pad|>": 151655, "<|video_pad|>": 151656, "<|vision_start|>": 151652,
               "<|vision_end|>": 151653, "eos": IM_END}
        cfg = qwen_vl_config("qwen3_vl", 151936, ids, hidden=64, layers=2)
        dtype = torch.float32
    else:
        spec = json.loads(json.dumps(QWEN3_VL_8B))
        cfg = AutoConfig.for_model(spec.pop("model_type"), **spec)
        dtype = torch.bfloat16
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(cfg, dtype=dtype, attn_implementation="sdpa")
    moved = next(model.parameters()).device.type != device.type
    if moved:  # a transformers version that ignored the device context: correct, only slower to build
        model = model.to(device)
    model.eval()
    if device.type == "cuda":
        torch.cuda.synchronize()
    n = sum(p.numel() for p in model.parameters())
    return model, {"built_s": round(time.perf_counter() - t0, 1), "parameters": n, "dtype": str(dtype),
                   "built_on": "cpu, then moved" if moved else device.type,
                   "config": "tiny Qwen3-VL (--quick)" if args.quick else "Qwen3-VL-8B-Instruct (public config.json)"}


def frame_grid(model, size: tuple[int, int]) -> tuple[int, int, int]:
    """(grid h, grid w, tokens per frame) as Qwen's image processor resizes a ``size`` (w, h) frame."""
    vc = model.config.vision_config
    factor = vc.patch_size * vc.spatial_merge_size
    w, h = size
    gh, gw = max(1, round(h / factor)) * vc.spatial_merge_size, max(1, round(w / factor)) * vc.spatial_merge_size
    return gh, gw, gh * gw // vc.spatial_merge_size ** 2


def make_inputs(model, batch: int, frames: int, size: tuple[int, int], device, seed: int = 0) -> dict:
    """Prompt tensors shaped as the recogniser builds them: chat tokens, one image per frame, the question."""
    import torch

    from signbridge.recognize.vlm_score import accepts

    cfg, vc = model.config, model.config.vision_config
    gh, gw, per = frame_grid(model, size)
    g = torch.Generator().manual_seed(seed)
    question = torch.randint(1000, 150000, (QUESTION_TOKENS,), generator=g).tolist()
    ids = [IM_START, 872, NEWLINE]  # <|im_start|>user\n (chat tokens: placeholders of the right count)
    for _ in range(frames):
        ids += [cfg.vision_start_token_id] + [cfg.image_token_id] * per + [cfg.vision_end_token_id]
    ids += question + [IM_END, NEWLINE, IM_START, 77091, NEWLINE]  # ...<|im_end|>\n<|im_start|>assistant\n
    input_ids = torch.tensor([ids] * batch)
    patch_dim = vc.in_channels * vc.temporal_patch_size * vc.patch_size ** 2
    n_img = batch * frames
    out = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
           "pixel_values": torch.randn(n_img * gh * gw, patch_dim, generator=g),
           "image_grid_thw": torch.tensor([[1, gh, gw]] * n_img)}
    if accepts(model.model.forward, "mm_token_type_ids"):
        out["mm_token_type_ids"] = (input_ids == cfg.image_token_id).int()
    out = {k: v.to(device) for k, v in out.items()}
    out["pixel_values"] = out["pixel_values"].to(model.dtype)
    return out


def candidates(seed: int = 1) -> list[list[int]]:
    """300 answers with the shown glosses' token lengths; distinct random tokens (no shared prefixes: the trie
    is at its largest, about 389 nodes against 367 for the real glosses under SmolLM2's BPE)."""
    rng = np.random.default_rng(seed)
    out = []
    for length, count in sorted(CANDIDATE_LENGTHS.items()):
        for _ in range(count):
            out.append(rng.integers(1000, 150000, length - 1).tolist() + [IM_END])
    return out


def timed(fn, device, min_s: float, min_calls: int = 3) -> tuple[float, int]:
    """Mean seconds per call of ``fn`` after one warm-up call."""
    import torch

    fn()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    n, t0 = 0, time.perf_counter()
    while n < min_calls or time.perf_counter() - t0 < min_s:
        fn()
        n += 1
    sync()
    return (time.perf_counter() - t0) / n, n


def run_point(model, packed, batch, frames, size, device, args) -> dict:
    import torch

    from signbridge.recognize.vlm_score import score_batch

    inputs = make_inputs(model, batch, frames, size, device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        sec, calls = timed(lambda: score_batch(model, inputs, packed), device, args.seconds)
    row = {"batch": batch, "frames": frames, "prompt_tokens": int(inputs["input_ids"].shape[1]),
           "spans_per_s": batch / sec, "ms_per_batch": sec * 1000, "calls": calls}
    if device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        row["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    return row


def sweep(model, packed, device, args, batches, frames_list) -> list[dict]:
    """Rows of :func:`run_point`; an out-of-memory point is recorded and ends its sweep."""
    import torch

    rows = []
    for frames in frames_list:
        for b in batches:
            if time.perf_counter() - args.t0 > args.budget_s:
                rows.append({"batch": b, "frames": frames, "skipped": f"time budget ({args.budget_s:g} s) spent"})
                continue
            try:
                rows.append(run_point(model, packed, b, frames, args.size, device, args))
            except torch.cuda.OutOfMemoryError as e:
                rows.append({"batch": b, "frames": frames, "oom": str(e).splitlines()[0][:200]})
                torch.cuda.empty_cache()
                break
            r = rows[-1]
            print(f"  vlm batch {b:>3} frames {frames}: {r['spans_per_s']:8.2f} spans/s  "
                  f"{r['ms_per_batch']:9.1f} ms/batch" + (f"  peak {r['peak_gib']:.1f} GiB" if "peak_gib" in r else ""),
                  flush=True)
    return rows


def prefill_share(model, packed, batch, device, args) -> dict:
    import torch

    from signbridge.recognize.vlm_score import score_batch

    inputs = make_inputs(model, batch, args.frames, args.size, device)
    with torch.inference_mode():
        pre, _ = timed(lambda: model.model(**inputs, use_cache=True), device, args.seconds / 2)
        full, _ = timed(lambda: score_batch(model, inputs, packed), device, args.seconds / 2)
    return {"batch": batch, "prefill_ms": pre * 1000, "total_ms": full * 1000, "prefill_share": pre / full}


def preprocessing(args) -> dict:
    """CPU time of Qwen's image processor (PIL backend) per span, for frames of ``--frame-size``."""
    try:
        return _preprocessing(args)
    except Exception as e:  # noqa: BLE001 - optional (needs Pillow); never lose the GPU numbers over it
        return {"skipped": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}


def _preprocessing(args) -> dict:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    ip = Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3,
                                  image_std=[0.5] * 3, min_pixels=65536, max_pixels=16777216)
    rng = np.random.default_rng(0)
    w, h = args.size
    frames = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(8 * args.frames)]
    ip(images=frames[:args.frames], return_tensors="pt")
    t0 = time.perf_counter()
    out = ip(images=frames, return_tensors="pt")
    dt = time.perf_counter() - t0
    return {"spans": 8, "frames_per_span": args.frames, "ms_per_span": dt / 8 * 1000,
            "grid_thw": out["image_grid_thw"][0].tolist()}


def classifier_throughput(device, args) -> dict:
    """The shipped classifier's spans/s on ``device`` (model only), fp32 and bf16 autocast."""
    import torch

    ts = SHIPPED / "model.ts"
    cfg = json.loads((SHIPPED / "config.json").read_text())
    info = {"model": cfg.get("name"), "version": cfg.get("version"),
            "weights_sha256_of_model_ts": hashlib.sha256(ts.read_bytes()).hexdigest()}
    info["config_weights_sha256"] = cfg.get("weights_sha256")
    t_steps, n_feat = cfg["features"]["n_steps"], cfg["model"]["n_features"]
    try:
        model = torch.jit.load(str(ts), map_location=device).eval()
        info["ran"] = "model.ts (TorchScript)"
    except Exception as e:  # noqa: BLE001 - a TorchScript file from a newer torch: trace the float weights
        from signbridge.recognize.model import ModelConfig, SignClassifier

        m = SignClassifier(ModelConfig.from_dict(cfg["model"]))
        m.load_state_dict(torch.load(SHIPPED / "weights.pt", map_location="cpu"))
        m = m.to(device).eval()
        with torch.no_grad():
            model = torch.jit.trace(m, torch.zeros(2, t_steps, n_feat, device=device), check_trace=False)
        info["ran"] = f"traced from weights.pt (model.ts did not load here: {str(e).splitlines()[0][:160]})"
    rows = []
    for b in args.classifier_batches:
        x = torch.randn(b, t_steps, n_feat, device=device)
        with torch.inference_mode():
            fp32, _ = timed(lambda: model(x), device, args.seconds / 2)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                bf16, _ = timed(lambda: model(x), device, args.seconds / 2)
        rows.append({"batch": b, "spans_per_s_fp32": b / fp32, "spans_per_s_bf16": b / bf16})
        print(f"  classifier batch {b:>5}: {b / fp32:12,.0f} spans/s fp32  {b / bf16:12,.0f} bf16", flush=True)
    info["model_only"] = rows
    return info


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "recognize_vlm-gpu.json"))
    ap.add_argument("--quick", action="store_true", help="tiny Qwen3-VL on the CPU (tests this script)")
    ap.add_argument("--frames", type=int, default=4, help="frames per span (SIGNBRIDGE_VLM_FRAMES default)")
    ap.add_argument("--frame-size", default="448x252", help="decoded frame WxH (16:9 at SIGNBRIDGE_VLM_IMAGE_SIDE)")
    ap.add_argument("--batches", default="1,2,4,8,16,32,64")
    ap.add_argument("--frames-sweep", default="1,2,8", help="other frame counts, at --frames-batch")
    ap.add_argument("--frames-batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=3.0, help="time each point at least this long")
    ap.add_argument("--budget-s", type=float, default=270.0,
                    help="no new VLM point starts after this many seconds (the rest is recorded as skipped)")
    args = ap.parse_args(argv)
    args.size = tuple(int(v) for v in args.frame_size.lower().split("x"))
    args.batch_list = [int(b) for b in args.batches.split(",")]
    args.frames_list = [int(f) for f in args.frames_sweep.split(",") if f]
    args.classifier_batches = [1, 16, 256, 1024, 4096]
    if args.quick:
        args.batch_list, args.frames_list, args.seconds, args.classifier_batches = [1, 2, 4], [2], 0.2, [1, 16]
    return args


def section(report: dict, name: str, out: Path, fn):
    """Run one part; a failure is recorded (never loses the parts before it) and the JSON is written."""
    import traceback

    try:
        report[name] = fn()
    except Exception as e:  # noqa: BLE001 - one GPU call: keep whatever else ran
        report.setdefault("errors", {})[name] = traceback.format_exc(limit=6)[-3000:]
        print(f"{name} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    report["seconds"] = round(time.perf_counter() - report["_t0"], 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({k: v for k, v in report.items() if k != "_t0"}, indent=2, default=str) + "\n")
    return report.get(name)


def main(argv=None) -> int:
    import torch

    from signbridge.recognize.vlm_score import pack_candidates

    args = parse_args(argv)
    device = torch.device("cpu" if args.quick else "cuda")
    if not args.quick and not torch.cuda.is_available():
        print("no CUDA/ROCm GPU visible to torch; use --quick for the CPU smoke run", file=sys.stderr)
        return 2
    out = Path(args.out)
    report = {"benchmark": "bench_recognize_vlm_gpu", "date": time.strftime("%Y-%m-%d %H:%M"),
              "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
              "versions": versions(), "quick": args.quick, "_t0": time.perf_counter()}
    args.t0 = report["_t0"]
    print(json.dumps(report["versions"]), flush=True)
    section(report, "classifier", out, lambda: classifier_throughput(device, args))  # cheap, and first: kept
    held: dict = {}

    def build() -> dict:
        held["model"], info = build_model(args, device)
        return info

    if section(report, "vlm_model", out, build) is not None:
        model = held["model"]
        if device.type == "cuda":
            report["vlm_model"]["weights_gib"] = torch.cuda.memory_allocated() / 2**30
        packed = pack_candidates(candidates())
        gh, gw, per = frame_grid(model, args.size)
        report["workload"] = {"candidates": sum(CANDIDATE_LENGTHS.values()), "candidate_lengths": CANDIDATE_LENGTHS,
                              "trie_nodes": packed.n_nodes, "frames_per_span": args.frames,
                              "frame_size": args.size, "patch_grid": [gh, gw], "image_tokens_per_frame": per,
                              "question_tokens": QUESTION_TOKENS,
                              "excluded": "frame decoding (ffmpeg), model loading"}
        print(f"{report['vlm_model']['config']}: {report['vlm_model']['parameters'] / 1e9:.2f} B parameters, "
              f"built in {report['vlm_model']['built_s']} s; {per} image tokens per frame, {packed.n_nodes} trie "
              "nodes", flush=True)
        section(report, "vlm_batches", out,
                lambda: sweep(model, packed, device, args, args.batch_list, [args.frames]))
        fb = min(args.frames_batch, max(args.batch_list))
        section(report, "vlm_frames", out, lambda: sweep(model, packed, device, args, [fb], args.frames_list))
        section(report, "prefill", out, lambda: prefill_share(model, packed, fb, device, args))
    section(report, "preprocessing_cpu", out, lambda: preprocessing(args))
    print_table(report)
    print(f"written: {out} ({report['seconds']} s)")
    return 1 if report.get("errors") else 0


def print_table(report: dict) -> None:
    v = report["versions"]
    print(f"\n{v.get('gpu', 'CPU')} | torch {v['torch']} | transformers {v['transformers']}")
    print(f"{'VLM batch':>9} {'frames':>6} {'tokens':>6} {'spans/s':>9} {'ms/batch':>9} {'peak GiB':>8}")
    for r in (report.get("vlm_batches") or []) + (report.get("vlm_frames") or []):
        if "spans_per_s" not in r:
            print(f"{r['batch']:>9} {r['frames']:>6}  {r.get('oom') and 'out of memory' or r.get('skipped')}")
            continue
        print(f"{r['batch']:>9} {r['frames']:>6} {r['prompt_tokens']:>6} {r['spans_per_s']:>9.2f} "
              f"{r['ms_per_batch']:>9.1f} {r.get('peak_gib', float('nan')):>8.1f}")
    p = report.get("prefill")
    if p:
        print(f"prefill share at batch {p['batch']}: {p['prefill_share']:.0%}")
    c = report.get("classifier")
    if c:
        print(f"classifier ({c['ran'][:40]}), model.ts sha256 {c['weights_sha256_of_model_ts'][:12]}:")
        for r in c["model_only"]:
            print(f"{r['batch']:>9} {r['spans_per_s_fp32']:>14,.0f} spans/s fp32 "
                  f"{r['spans_per_s_bf16']:>14,.0f} bf16")
    for name, err in (report.get("errors") or {}).items():
        print(f"ERROR in {name}: {err.strip().splitlines()[-1]}")


if __name__ == "__main__":
    raise SystemExit(main())
