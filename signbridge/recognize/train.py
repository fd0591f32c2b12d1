"""Training the sign classifier and the letter classifier (fixed seed, CPU-friendly sizes).

Each epoch re-augments every training sequence (mirror, rotation/scale jitter,
time stretch and crop, frame and landmark dropout) before the shared feature
code turns it into the model's input, so training sees exactly what inference
computes, plus noise.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from signbridge.errors import InputError, ModelError
from signbridge.recognize.datasets import Sample
from signbridge.recognize.features import FeatureConfig, augment, random_warp, span_features
from signbridge.recognize.frames import step_times

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1.5e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    seed: int = 0
    max_steps: int | None = None  # stop early (tests)
    span: str = "active"  # train on the clip's active part (as segmentation gives it at inference) or whole "clip"
    balanced: bool = False  # draw each epoch's clips with probability ~ 1/sqrt(class size)
    mixup: float = 0.0  # Beta(a, a) mixup of feature sequences (0 = off)
    proto_blend: float = 0.0  # after training, move each class vector this far towards its clips' mean embedding
    extra: dict[str, Any] = field(default_factory=dict)


def clip_span(f) -> np.ndarray:
    step = float(np.median(np.diff(f.t_ms))) if len(f) > 1 else 40.0
    return np.array([[f.t_ms[0], f.t_ms[-1] + step]])


def active_span(f, seg_cfg=None) -> np.ndarray:
    """The part of an isolated clip that segmentation would hand to the classifier (whole clip if none)."""
    from signbridge.recognize.segment import core_spans

    spans = core_spans(f, seg_cfg)
    if len(spans) == 0:
        return clip_span(f)
    return np.array([[spans[0, 0], spans[-1, 1]]])


def sample_span(s: Sample, mode: str = "active", seg_cfg=None) -> np.ndarray:
    key = f"_span_{mode}_{seg_cfg!r}"
    if key not in s.frames.meta:
        s.frames.meta[key] = active_span(s.frames, seg_cfg) if mode == "active" else clip_span(s.frames)
    return s.frames.meta[key]


def features_plain(samples: Sequence[Sample], cfg: FeatureConfig, mode: str = "active", seg_cfg=None) -> np.ndarray:
    """Features of isolated clips, no augmentation (evaluation, prototypes)."""
    if not samples:
        return np.zeros((0, cfg.n_steps, cfg.n_features), np.float32)
    return np.concatenate([span_features(s.frames, sample_span(s, mode, seg_cfg), cfg) for s in samples])


def features_augmented(samples: Sequence[Sample], cfg: FeatureConfig, rng: np.random.Generator,
                       mode: str = "active") -> np.ndarray:
    out = []
    for s in samples:
        f = augment(s.frames, rng)
        span = sample_span(s, mode)
        times = step_times(span, cfg.n_steps, random_warp(rng, cfg.n_steps))
        out.append(span_features(f, span, cfg, times=times))
    return np.concatenate(out)


def train_signs(train: Sequence[Sample], labels: list[str], feat_cfg: FeatureConfig, model_cfg, tcfg: TrainConfig,
                val: Sequence[Sample] = (), init_state: dict | None = None,
                log_fn: Callable[[str], None] | None = print):
    """Returns (model in eval mode on CPU, history list of dicts)."""
    import torch

    from signbridge.recognize.model import SignClassifier

    if not train:
        raise InputError("no training samples", hint="check --data and the split column")
    index = {g: i for i, g in enumerate(labels)}
    unknown = sorted({s.label for s in train if s.label not in index})
    if unknown:
        raise ModelError(f"training labels not in the vocabulary: {unknown[:5]}")
    torch.manual_seed(tcfg.seed)
    rng = np.random.default_rng(tcfg.seed)
    model = SignClassifier(model_cfg)
    if init_state is not None:
        try:
            model.load_state_dict(init_state)
        except RuntimeError as e:
            raise ModelError(f"cannot resume: the checkpoint does not fit this vocabulary/size "
                             f"({str(e).splitlines()[0]})") from None
    y = torch.as_tensor([index[s.label] for s in train])
    steps_per_epoch = (len(train) + tcfg.batch_size - 1) // tcfg.batch_size
    total = tcfg.epochs * steps_per_epoch
    if tcfg.max_steps:
        total = min(total, tcfg.max_steps)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tcfg.lr, total_steps=max(total, 2), pct_start=0.1)
    xv = torch.as_tensor(features_plain(val, feat_cfg, tcfg.span)) if val else None
    yv = np.array([index.get(s.label, -1) for s in val]) if val else None
    history: list[dict[str, Any]] = []
    step, t0 = 0, time.time()
    counts = np.bincount(y.numpy(), minlength=len(labels)).astype(float)
    draw_p = 1.0 / np.sqrt(counts[y.numpy()])
    draw_p /= draw_p.sum()
    for ep in range(tcfg.epochs):
        model.train()
        x = torch.as_tensor(features_augmented(train, feat_cfg, rng, tcfg.span))
        if tcfg.balanced:
            perm = torch.as_tensor(rng.choice(len(train), size=len(train), p=draw_p))
        else:
            perm = torch.as_tensor(rng.permutation(len(train)))
        tot = 0.0
        for i in range(0, len(train), tcfg.batch_size):
            b = perm[i:i + tcfg.batch_size]
            xb, yb = x[b], y[b]
            if tcfg.mixup > 0:
                lam = float(rng.beta(tcfg.mixup, tcfg.mixup))
                j = torch.as_tensor(rng.permutation(len(b)))
                logits, _ = model(lam * xb + (1 - lam) * xb[j])
                ce = torch.nn.functional.cross_entropy
                loss = lam * ce(logits, yb, label_smoothing=tcfg.label_smoothing) + \
                    (1 - lam) * ce(logits, yb[j], label_smoothing=tcfg.label_smoothing)
            else:
                logits, _ = model(xb)
                loss = torch.nn.functional.cross_entropy(logits, yb, label_smoothing=tcfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(b)
            step += 1
            if step >= total:
                break
        rec = {"epoch": ep + 1, "step": step, "loss": tot / len(train), "seconds": round(time.time() - t0, 1)}
        last = step >= total or ep == tcfg.epochs - 1
        if xv is not None and (ep % 10 == 9 or last):
            rec.update(evaluate_logits(model, xv, yv))
        history.append(rec)
        if log_fn and (ep % 10 == 9 or last or ep == 0):
            log_fn(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
        if step >= total:
            break
    model.eval()
    if tcfg.proto_blend > 0:
        blend_prototypes(model, torch.as_tensor(features_plain(train, feat_cfg, tcfg.span)), y, tcfg.proto_blend)
    return model, history


def blend_prototypes(model, x, y, alpha: float) -> None:
    """Class vector <- unit((1-alpha) * learnt vector + alpha * mean unit embedding of the class's training clips).

    The learnt vectors are fitted to augmented clips; the clips' own mean embeddings are what few-shot
    prototypes are made of, so blending makes trained and few-shot classes alike and steadies rare classes.
    """
    import torch
    from torch.nn import functional as F

    with torch.inference_mode():
        _, emb = model(x)
        w = model.prototypes().clone()
        for c in torch.unique(y):
            m = F.normalize(emb[y == c].mean(0), dim=0)
            w[c] = F.normalize((1 - alpha) * w[c] + alpha * m, dim=0)
    with torch.no_grad():
        model.weight.copy_(w)


def evaluate_logits(model, xv, yv) -> dict[str, float]:
    import torch

    model.eval()
    with torch.inference_mode():
        logits, _ = model(xv)
    model.train()
    order = torch.argsort(logits, dim=1, descending=True).numpy()
    yv = np.asarray(yv)
    return {"val_top1": float(np.mean(order[:, 0] == yv)), "val_top5": float(np.mean((order[:, :5] == yv[:, None]).any(1)))}


# --------------------------------------------------------------------------- the `signbridge train` job

LABEL_ALIASES = {"thankyou": "thank you"}  # Kaggle spells it as one word; WLASL has "thank you"


def normalise_label(label: str) -> str:
    label = " ".join(label.strip().lower().split())
    return LABEL_ALIASES.get(label, label)


def split_samples(samples: Sequence[Sample], holdout: str) -> tuple[list[Sample], list[Sample]]:
    """holdout='val': train on split=train, hold out split=val; 'none': train on everything present."""
    if holdout == "none":
        return list(samples), []
    return [s for s in samples if s.split == "train"], [s for s in samples if s.split == holdout]


def run_training(data: Sequence[str], letters_npz: str | None, out: str, *, seed: int = 0, epochs: int = 100,
                 holdout: str = "val", d_model: int = 64, n_layers: int = 2, n_steps: int = 24,
                 dropout: float = 0.2, letter_epochs: int = 40, resume: str | None = None,
                 max_steps: int | None = None, name: str = "asl-isolated", version: str = "1",
                 command: str = "", kaggle_fps: float = 30.0, canonical_hand: bool = False,
                 hand_body: str = "points", mixup: float = 0.0, proto_blend: float = 0.0, temperature: float = 1.0, log_fn: Callable[[str], None] = print) -> dict:
    """Load data, train both classifiers, evaluate on the held-out part, write a checkpoint. Returns config.

    Long because it is the recipe the model card quotes, in the order it runs."""
    import torch

    from signbridge.recognize.checkpoint import load_float_models, save_checkpoint
    from signbridge.recognize.datasets import load_dataset
    from signbridge.recognize.fingerspell import block_split, letter_probs, load_alphabet, train_letters
    from signbridge.recognize.model import ModelConfig

    torch.manual_seed(seed)
    samples: list[Sample] = []
    sources = []
    for spec in data:
        got = load_dataset(spec, kaggle_fps=kaggle_fps)
        for s in got:
            s.label = normalise_label(s.label)
        samples += got
        sources.append({"spec": spec, "n": len(got), "labels": sorted({s.label for s in got})})
    train, held = split_samples(samples, holdout)
    # the vocabulary is what the model is trained on; held-out clips of other glosses simply count as errors
    init_state, init_letters, labels = None, None, sorted({s.label for s in train})
    if resume:
        model0, letters0, cfg0 = load_float_models(resume)
        if cfg0["labels"] != labels:
            extra = sorted(set(labels) - set(cfg0["labels"]))
            raise ModelError(f"cannot resume: the data's vocabulary differs from the checkpoint's "
                             f"(new: {extra[:5]}{'...' if len(extra) > 5 else ''})", source=resume,
                             hint="train from scratch, or add glosses with `signbridge vocab add`")
        init_state, init_letters = model0.state_dict(), letters0
        n_steps, d_model, n_layers = cfg0["features"]["n_steps"], cfg0["model"]["d_model"], cfg0["model"]["n_layers"]
        canonical_hand = bool(cfg0["features"].get("canonical_hand", False))
        hand_body = cfg0["features"].get("hand_body", "points")
    feat_cfg = FeatureConfig(n_steps=n_steps, canonical_hand=canonical_hand, hand_body=hand_body)
    model_cfg = ModelConfig(n_features=feat_cfg.n_features, n_classes=len(labels), n_steps=n_steps, d_model=d_model,
                            n_layers=n_layers, dropout=dropout)
    log_fn(f"signs: {len(train)} training / {len(held)} held-out sequences, {len(labels)} glosses")
    tcfg = TrainConfig(epochs=epochs, seed=seed, max_steps=max_steps, mixup=mixup, proto_blend=proto_blend)
    model, history = train_signs(train, labels, feat_cfg, model_cfg, tcfg, val=held, init_state=init_state,
                                 log_fn=log_fn)
    metrics: dict[str, Any] = {}
    if held:
        metrics["signs"] = {k: v for k, v in history[-1].items() if k.startswith("val_")}
        metrics["signs"]["n_heldout"] = len(held)
    letters_info: dict[str, Any] = {}
    if letters_npz:
        X, y, num = load_alphabet(letters_npz)
        test = block_split(y, num)
        letters = train_letters(X[~test], y[~test], seed=seed, epochs=letter_epochs,
                                log=log_fn) if not max_steps else train_letters(X[~test][:512], y[~test][:512],
                                                                                 seed=seed, epochs=1, log=log_fn)
        acc = float(np.mean(letter_probs(letters, X[test]).argmax(1) == y[test]))
        metrics["letters"] = {"block_heldout_top1": acc, "n_heldout": int(test.sum())}
        letters_info = {"data": str(letters_npz), "split": "blocks of 50 consecutive frame numbers, every 5th held out"}
        log_fn(f"letters: block-held-out accuracy {acc:.4f} on {int(test.sum())} frames")
    elif init_letters is not None:
        letters = init_letters
    else:
        raise InputError("no letter data: pass --letters PATH.npz (or --resume a checkpoint that has letters)")
    config = {
        "name": name, "version": version, "labels": labels,
        "features": feat_cfg.to_dict(), "model": model_cfg.to_dict(),
        "train": {"seed": seed, "epochs": epochs, "mixup": mixup, "proto_blend": proto_blend, "holdout": holdout,
                  "data": sources, "command": command,
                  "n_train": len(train), "n_heldout": len(held), "resumed_from": resume,
                  "per_class_train_counts": {g: sum(s.label == g for s in train) for g in labels},
                  "torch": torch.__version__},
        "letters": letters_info,
        "metrics": metrics,
    }
    from signbridge.recognize.fingerspell import FingerspellConfig
    from signbridge.recognize.segment import SegmentConfig

    config["calibration"] = {"temperature": float(temperature),
                             "fitted_on": "out-of-fold predictions of signer-disjoint CV (benchmarks/bench_recognize.py "
                                          "cv), passed as --temperature" if temperature != 1.0 else "none"}
    config["segmentation"] = SegmentConfig().to_dict()
    config["fingerspelling"] = FingerspellConfig().to_dict()
    save_checkpoint(out, model, letters, config)
    write_heldout_calibration(out, model, held, labels, feat_cfg, holdout)
    log_fn(f"checkpoint written to {out}")
    return config


def write_heldout_calibration(out: str, model, held: Sequence[Sample], labels: list[str], feat_cfg: FeatureConfig,
                              holdout: str) -> None:
    """calibration.json from the held-out clips: temperature and precision thresholds (no out-of-vocabulary
    clips here, so the thresholds only guard against confusions inside the vocabulary)."""
    import torch

    from signbridge.recognize import openset

    known = [s for s in held if s.label in labels]
    if known:
        with torch.inference_mode():
            logits = model.eval()(torch.as_tensor(features_plain(known, feat_cfg)))[0].numpy()
        y = np.array([labels.index(s.label) for s in known])
    else:
        logits, y = np.zeros((0, len(labels)), np.float32), np.zeros(0, int)
    t = openset.fit_temperature(logits, y)
    p = openset.softmax(logits, t) if len(y) else np.zeros((0, len(labels)))
    conf, pred = openset.shown_confidence(p, len(labels))
    openset.write_calibration(out, {"temperature": t, "shown_classes": len(labels),
                                    "thresholds": openset.choose(conf, pred == y, np.zeros(0)),
                                    "fitted_on": {"in_vocabulary": f"{len(known)} held-out clips ({holdout})",
                                                  "out_of_vocabulary": "none"}})
