"""The probing pipeline shared by the CLI and the tests: activations (cached) -> probes -> report."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from signbridge.errors import InputError
from signbridge.probe.cache import Activations, cache_dir, cache_key, model_fingerprint, storable
from signbridge.probe.data import LabelledSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeOptions:
    repeats: int = 5
    folds: int = 5
    C: float = 1.0
    seed: int = 0
    jobs: int = 1
    layers: tuple[int, ...] | None = None  # probe only these (activations are still taken at every layer)


def probe_activations(acts: Sequence[Activations], out_dir: str | Path, options: ProbeOptions, *,
                      model: str, data: str, answers: Sequence[str] | None = None, prompt: str | None = None,
                      skipped: Sequence[tuple[str, str]] = (), extra: dict[str, Any] | None = None,
                      baseline: tuple[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Fit probes on cached activations and write curve, projection, tables and report to ``out_dir``."""
    from signbridge.probe import report
    from signbridge.probe.probes import probe_all

    if not acts:
        raise InputError("no activations to probe")
    ref = acts[0]
    for a in acts[1:]:
        if a.ids != ref.ids or a.layers != ref.layers:
            raise InputError(f"activations for pooling {a.pooling} cover other samples or layers than {ref.pooling}")
    sel = list(range(len(ref.layers)))
    if options.layers:
        missing = sorted(set(options.layers) - set(ref.layers))
        if missing:
            raise InputError(f"layers {missing} do not exist; this model has layers {ref.layers[0]}..{ref.layers[-1]}")
        sel = [ref.layers.index(i) for i in options.layers]
    layers = [ref.layers[i] for i in sel]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = probe_all({a.pooling: [a.x[i] for i in sel] for a in acts}, layers, ref.labels, ref.groups,
                       repeats=options.repeats, folds=options.folds, C=options.C, seed=options.seed, jobs=options.jobs)
    probe_s = time.perf_counter() - t0
    best = result.best()
    labels = np.asarray(ref.labels).astype(str)
    summary: dict[str, Any] = {
        "model": model, "data": data, "n_samples": len(labels), "n_classes": len(result.classes),
        "classes": result.classes, "chance": 1.0 / len(result.classes), "C": options.C,
        "repeats": options.repeats, "folds": best.folds, "grouped": ref.groups is not None, "seed": options.seed,
        "layers_probed": layers, "poolings": [a.pooling for a in acts], "prompt": prompt,
        "best": best.to_dict(),
        "best_by_pooling": {a.pooling: result.best(a.pooling).to_dict() for a in acts},
        "per_class_recall_best": report.per_class_recall(result, labels, best.pooling, best.layer),
        "probe_seconds": round(probe_s, 2), "skipped": [list(s) for s in skipped],
    }
    if extra:
        summary.update(extra)
    base_score = None
    if baseline is not None:
        # the same probe, same splits, on the raw input: what a model adds beyond its input
        name, bx = baseline
        b = probe_all({name: [bx]}, [0], ref.labels, ref.groups, repeats=options.repeats, folds=options.folds,
                      C=options.C, seed=options.seed, jobs=1).scores[0]
        base_score = (name, b.accuracy)
        summary["input_baseline"] = {"name": name, **{k: v for k, v in b.to_dict().items()
                                                      if k in ("accuracy", "ci_low", "ci_high", "control")}}
    gen_acc = None
    if answers is not None:
        from signbridge.probe.vlm import parse_letter, score_answer

        correct = [score_answer(a, lab) for a, lab in zip(answers, labels)]
        parsed = [parse_letter(a) for a in answers]
        summary["generated"] = report.summarise_answers(labels, answers, correct)
        gen_acc = summary["generated"]["accuracy"]
        summary["gap"] = best.accuracy - gen_acc
        report.write_answers(ref.ids, labels, answers, correct, parsed, out)
    title = f"{Path(model).name}: {data}"
    report.plot_curve(result, out, title, gen_acc, base_score)
    best_act = next(a for a in acts if a.pooling == best.pooling)
    _, method = report.plot_projection(best_act.x[ref.layers.index(best.layer)], labels, out,
                                       f"{title} (layer {best.layer}, {best.pooling})")
    summary["projection"] = method
    report.write_tables(result, out)
    report.write_json(out, summary, result)
    report.write_html(out, summary, result)
    return summary


def pixel_features(images: Sequence[np.ndarray], side: int = 28) -> np.ndarray:
    """Grey ``side`` x ``side`` pixels per image: the input baseline for image probes."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).convert("L").resize((side, side), Image.BILINEAR),
                                dtype=np.float32).ravel() / 255.0 for im in images])


def vlm_activations(model_path: str | Path, data: LabelledSet, home: str | Path, *, prompt: str,
                    poolings: Sequence[str] = ("last", "mean"), device: str = "auto", dtype: str = "auto",
                    load_in_4bit: bool = False, batch_size: int = 8, image_size: int | None = None,
                    generate: bool = True, max_new_tokens: int = 12, use_cache: bool = True,
                    progress: bool = False) -> tuple[list[Activations], list[str] | None, dict[str, Any]]:
    """Per-pooling activations and answers of a local HF VLM, from the cache when it has them."""
    from signbridge.probe.vlm import resolve_device

    dev = resolve_device(device)
    key = cache_key(kind="vlm", model=model_fingerprint(model_path), inputs=data.digest(), prompt=prompt,
                    image_size=image_size, dtype=dtype, device=dev.split(":")[0], quant=bool(load_in_4bit))
    cdir = cache_dir(home)
    paths = {p: cdir / f"{key}-{p}.npz" for p in poolings}
    ans_path = cdir / f"{key}-answers-{max_new_tokens}.json"
    have = use_cache and all(p.is_file() for p in paths.values()) and (not generate or ans_path.is_file())
    info: dict[str, Any] = {"cache_key": key, "activations": {p: str(v) for p, v in paths.items()}, "cached": have}
    if have:
        log.info("probe: using cached activations %s", cdir / f"{key}-*.npz")
        acts = [Activations.load(paths[p]) for p in poolings]
        answers = json.loads(ans_path.read_text())["answers"] if generate else None
        return acts, answers, info
    from signbridge.probe.vlm import extract, load_vlm

    t0 = time.perf_counter()
    vlm = load_vlm(model_path, dev, dtype, load_in_4bit)
    t1 = time.perf_counter()
    raw, answers = extract(vlm, data.items, prompt=prompt, poolings=poolings, batch_size=batch_size,
                           image_size=image_size, generate=generate, max_new_tokens=max_new_tokens, progress=progress)
    t2 = time.perf_counter()
    info.update(load_seconds=round(t1 - t0, 2), forward_seconds=round(t2 - t1, 2), device=vlm.device,
                dtype=vlm.dtype, quantization=vlm.quantization)
    meta = {"model": str(model_path), "data": data.source, "prompt": prompt, "device": vlm.device,
            "dtype": vlm.dtype, "quantization": vlm.quantization, "image_size": image_size}
    acts = []
    for p in poolings:
        a = Activations(storable(raw[p]).astype(np.float32), list(range(len(raw[p]))), data.labels, data.ids, p, data.groups, meta)
        if use_cache:
            a.save(paths[p])
        acts.append(a)
    if generate and use_cache:
        ans_path.parent.mkdir(parents=True, exist_ok=True)
        ans_path.write_text(json.dumps({"prompt": prompt, "answers": answers, "ids": data.ids}))
    return acts, answers, info


def recognizer_study(part: str, data: LabelledSet, home: str | Path, *, checkpoint: str | Path | None = None,
                     device: str = "cpu", use_cache: bool = True
                     ) -> tuple[list[Activations], list[str] | None, dict[str, Any]]:
    """Activations of our recogniser (``sign`` encoder or ``letters`` MLP) and its own top-1 labels, cached."""
    from signbridge.probe.recognizer import load_float, recognizer_activations

    _, _, cfg, ckpt = load_float(checkpoint)
    key = cache_key(kind="recognizer", part=part, model=model_fingerprint(ckpt), inputs=data.digest())
    cdir = cache_dir(home)
    path, own_path = cdir / f"{key}-mean.npz", cdir / f"{key}-own.json"
    info: dict[str, Any] = {"cache_key": key, "activations": {"mean": str(path)}, "cached": False}
    if use_cache and path.is_file() and own_path.is_file():
        info["cached"] = True
        acts, own = Activations.load(path), json.loads(own_path.read_text())["answers"]
    else:
        t0 = time.perf_counter()
        raw, own, more = recognizer_activations(part, data, checkpoint, device)
        info.update(more, forward_seconds=round(time.perf_counter() - t0, 2))
        x = [storable(a).astype(np.float32) for a in raw["mean"]] if isinstance(raw["mean"], list) \
            else storable(raw["mean"]).astype(np.float32)
        acts = Activations(x, list(range(len(raw["mean"]))), data.labels, data.ids, "mean", data.groups,
                           {"model": str(ckpt), "part": part, "data": data.source})
        if use_cache:
            acts.save(path)
            own_path.write_text(json.dumps({"answers": own}))
    vocab = set(cfg["labels"]) if part == "sign" else {chr(c) for c in range(65, 91)}
    labels = {str(v) for v in data.labels}
    # the model's own answer is only comparable where the data's labels are in its vocabulary
    answers = own if labels & vocab else None
    info["own_answers_scored"] = answers is not None
    return [acts], answers, info
