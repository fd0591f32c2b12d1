"""Training the large-vocabulary, hands-only sign classifier on packed WLASL-2000 hands (seeded, CPU or GPU).

Glosses are split by WLASL class index: the first ``vocab`` are the vocabulary (trained on the NSLT-2000
train split); ``negatives`` (a further class range) are *known unknowns*: their clips are trained towards a
uniform output (outlier exposure), together with transitions made of the end of one clip and the start of
another. The classes after that are never trained on: calibration (:mod:`openset`) and evaluation use them
as the unknown signs a user will actually show. Each step re-augments its batch (rotation, scale, aspect,
time warp and crop, hand and landmark dropout) before the shared feature code (:mod:`hands`) runs.

With ``teachers`` (float weights of models of this recipe trained with other seeds), the model also learns the
teachers' mean output on the same augmented batch (knowledge distillation): an ensemble is markedly more accurate
and better calibrated than any member, and distilling it keeps one model's size and CPU speed.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from signbridge.recognize.hands import VERSIONS, HandFeatureConfig, hand_features


@dataclass(frozen=True)
class HandsTrainConfig:
    vocab: int = 1750  # WLASL-N: the first N class indices are trained
    negatives: tuple[int, int] = (1750, 1750)  # class range trained as "not a sign of the vocabulary"
    epochs: int = 95
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    outlier_weight: float = 0.5
    transition_share: float = 0.1  # of each batch: clip-end + clip-start joins, trained as unknown
    n_steps: int = 24
    d_model: int = 128
    n_layers: int = 2
    dropout: float = 0.2
    scale: float = 24.0
    seed: int = 0
    max_steps: int | None = None  # stop early (tests)
    max_seconds: float | None = None  # stop early when a wall-clock budget (a GPU lease) runs out
    stop_after: int | None = None  # stop at this step with the full schedule (reproduces a budget-stopped run)
    teachers: tuple[str, ...] = ()  # weights.pt files of this recipe's models: distil their mean output
    distill_weight: float = 0.7  # share of the loss on the teachers' soft targets (the rest: the labels)
    distill_temperature: float = 2.0
    signer_fold: tuple[int, int] | None = None  # (i, k): leave out the clips of signer fold i of k (signer_folds)
    features: str = "1"  # hand feature version (hands.VERSIONS; "2" adds the location channel)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_packed(path: str | Path) -> dict[str, np.ndarray]:
    from signbridge.errors import InputError

    try:
        z = np.load(path)
        return {k: z[k] for k in ("hands", "cls", "split", "signer", "video_id", "gloss")}
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"not a packed WLASL hands file ({e})", source=str(path),
                         hint="make it with `python -m signbridge.recognize.train_hands pack`") from None


def augment(h: np.ndarray, rng: np.random.Generator, n_steps: int) -> np.ndarray:
    """(B, T0, 2, 21, 3) image-coordinate hands -> augmented (B, n_steps, 2, 21, 3)."""
    B, T0 = h.shape[:2]
    # time: random crop of up to 15 % at each end and a smooth speed change, read by nearest step
    a = rng.uniform(0, 0.15, (B, 1))
    b = 1 - rng.uniform(0, 0.15, (B, 1))
    u = (np.arange(n_steps) + 0.5) / n_steps
    g = rng.uniform(-0.3, 0.3, (B, 1))
    w = u + g * u * (1 - u)
    idx = np.clip(np.round((a + (b - a) * w) * T0 - 0.5).astype(int), 0, T0 - 1)
    out = np.take_along_axis(h, idx[:, :, None, None, None], axis=1).astype(np.float32)
    # space: rotation, scale and aspect about each clip's hand centre
    with np.errstate(all="ignore"):
        c = np.nan_to_num(np.nanmean(out[..., 0, :2].reshape(B, -1, 2), axis=1), nan=0.5)  # (B,2)
    ang = np.deg2rad(rng.uniform(-15, 15, B))
    s = rng.uniform(0.85, 1.15, B)
    asp = rng.uniform(0.85, 1.15, B)
    rot = np.stack([np.stack([np.cos(ang), -np.sin(ang)], -1), np.stack([np.sin(ang), np.cos(ang)], -1)], -2)
    xy = (out[..., :2] - c[:, None, None, None, :]) * np.stack([s * asp, s], -1)[:, None, None, None, :]
    out[..., :2] = np.einsum("btkpj,bij->btkpi", xy, rot) + c[:, None, None, None, :]
    out[..., 2] *= rng.uniform(0.7, 1.3, (B, 1, 1, 1))
    out[..., :2] += rng.normal(0, 0.002, out[..., :2].shape)
    drop = rng.random(out.shape[:3]) < 0.05  # a hand missed in a frame
    out[drop] = np.nan
    return out


def transitions(h: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """n sequences made of the second half of one clip and the first half of another (not a sign)."""
    i, j = rng.integers(0, len(h), n), rng.integers(0, len(h), n)
    T0 = h.shape[1]
    return np.concatenate([h[i, T0 // 2:], h[j, :T0 - T0 // 2]], axis=1)


def split_indices(data: dict[str, np.ndarray], cfg: HandsTrainConfig) -> dict[str, np.ndarray]:
    cls, split = data["cls"].astype(int), data["split"]
    lo, hi = cfg.negatives
    keep = np.ones(len(cls), bool)
    if cfg.signer_fold is not None:  # a fold model: none of the held-out signers' clips, in any split
        from signbridge.recognize.signer_folds import fold_of

        keep = fold_of(data["signer"], cfg.signer_fold[1]) != cfg.signer_fold[0]
    return {"train": np.flatnonzero((cls < cfg.vocab) & (split == "train") & keep),
            "val": np.flatnonzero((cls < cfg.vocab) & (split == "val") & keep),
            "negatives": np.flatnonzero((cls >= lo) & (cls < hi) & (split != "test") & keep)}


def build_model(cfg: HandsTrainConfig):
    from signbridge.recognize.model import ModelConfig, SignClassifier

    fc = HandFeatureConfig(n_steps=cfg.n_steps, version=cfg.features)
    mc = ModelConfig(n_features=fc.n_features, n_classes=cfg.vocab, n_steps=cfg.n_steps, d_model=cfg.d_model,
                     n_layers=cfg.n_layers, dropout=cfg.dropout, scale=cfg.scale)
    return SignClassifier(mc), fc, mc


def load_teachers(cfg: HandsTrainConfig, device):
    """The teachers as one module returning their mean logits (each is this recipe's model, other seed)."""
    import torch

    from signbridge.errors import InputError

    members = []
    for path in cfg.teachers:
        m, _, _ = build_model(cfg)
        try:
            m.load_state_dict(torch.load(path, map_location="cpu"))
        except (OSError, RuntimeError) as e:
            raise InputError(f"not weights of this recipe's model ({str(e).splitlines()[0]})", source=str(path),
                             hint="teachers are weights.pt files trained with the same --vocab and sizes") from None
        members.append(m.to(device).eval())
    return lambda x: torch.stack([m(x)[0] for m in members]).mean(0)


def distill_loss(logits, teacher_logits, cfg: HandsTrainConfig):
    """KL(teacher || student) at the distillation temperature, scaled by T^2 so its gradient keeps its size."""
    from torch.nn import functional as F

    t = cfg.distill_temperature
    return F.kl_div(F.log_softmax(logits / t, -1), F.log_softmax(teacher_logits / t, -1), log_target=True,
                    reduction="batchmean") * t * t


def seed_everything(seed: int) -> None:
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def train(data: dict[str, np.ndarray], cfg: HandsTrainConfig, device: str = "auto",
          log_fn: Callable[[str], None] = print):
    """Train; returns (model on CPU in eval mode, history).

    Long because the loop is one unit: sampling, augmentation, the three losses and the stop rules.
    """
    import torch
    from torch.nn import functional as F

    from signbridge.torch_device import torch_device

    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dev = torch_device(device)
    model, _, _ = build_model(cfg)
    model.to(dev)
    teacher = load_teachers(cfg, dev) if cfg.teachers else None
    idx = split_indices(data, cfg)
    hands, cls = data["hands"], data["cls"].astype(np.int64)
    tr, neg = idx["train"], idx["negatives"]
    tr_hands = hands[tr]  # transitions draw from these every step: copy them once
    n_neg = int(round(cfg.batch_size * len(neg) / max(len(tr) + len(neg), 1)))
    n_tra = int(round(cfg.batch_size * cfg.transition_share))
    n_in = cfg.batch_size - n_neg - n_tra
    steps_per_epoch = max(1, len(tr) // n_in)
    total = cfg.epochs * steps_per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.1)
    history, step, t0 = [], 0, time.time()
    log_fn(f"training on {dev}: {len(tr)} vocabulary clips ({cfg.vocab} glosses), {len(neg)} negative clips, "
           f"{n_in}+{n_neg}+{n_tra} per batch, {total} steps")
    while step < total:
        perm = rng.permutation(tr)
        model.train()
        tot = 0.0
        for k in range(steps_per_epoch):
            if step >= total or (cfg.max_seconds and time.time() - t0 > cfg.max_seconds) or \
                    (cfg.stop_after is not None and step >= cfg.stop_after):
                total = step
                break
            bi = perm[k * n_in:(k + 1) * n_in]
            parts = [hands[bi], hands[rng.choice(neg, n_neg)] if n_neg else hands[:0],
                     transitions(tr_hands, rng, n_tra)]
            x = torch.as_tensor(hand_features(augment(np.concatenate(parts), rng, cfg.n_steps), cfg.features),
                                device=dev)
            logits, _ = model(x)
            y = torch.as_tensor(cls[bi], device=dev)
            loss = F.cross_entropy(logits[:len(bi)], y, label_smoothing=cfg.label_smoothing)
            if len(logits) > len(bi):  # unknowns: cross-entropy to the uniform distribution
                loss = loss - cfg.outlier_weight * F.log_softmax(logits[len(bi):], -1).mean()
            if teacher is not None:
                with torch.no_grad():
                    soft = teacher(x)
                a = cfg.distill_weight
                loss = (1 - a) * loss + a * distill_loss(logits, soft, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            tot += float(loss.detach())
        ep = {"epoch": len(history) + 1, "step": step, "loss": tot / steps_per_epoch, "seconds": time.time() - t0}
        if len(history) % 10 == 0 or step >= total:
            ep.update(evaluate(model, hands[idx["val"]], cls[idx["val"]], dev, cfg.features))
            log_fn(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in ep.items()))
        history.append(ep)
    return model.cpu().eval(), history


def predict_logits(model, hands: np.ndarray, device="cpu", batch: int = 1024, version: str = "1") -> np.ndarray:
    """Logits of un-augmented clips (the inference features of feature ``version``)."""
    import torch

    out = []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(hands), batch):
            x = torch.as_tensor(hand_features(hands[i:i + batch].astype(np.float32), version), device=device)
            out.append(model(x)[0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate(model, hands: np.ndarray, y: np.ndarray, device="cpu", version: str = "1") -> dict[str, float]:
    if len(hands) == 0:
        return {}
    dev = next(model.parameters()).device
    was = model.training
    logits = predict_logits(model, hands, dev, version=version)
    model.train(was)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    return {"val_top1": float(np.mean(top5[:, 0] == y)), "val_top5": float(np.mean((top5 == y[:, None]).any(1)))}


def save(model, cfg: HandsTrainConfig, labels: list[str], history: list[dict], out: str | Path,
         letters_from: str | Path, command: str = "", data: list[dict] | None = None) -> Path:
    """Write a checkpoint folder (TorchScript + config.json); the letter classifier is copied from ``letters_from``."""
    import torch

    from signbridge.recognize.checkpoint import load_float_models, save_checkpoint
    from signbridge.recognize.fingerspell import FingerspellConfig
    from signbridge.recognize.segment import SegmentConfig

    _, letters, letters_cfg = load_float_models(letters_from)
    _, fc, mc = build_model(cfg)
    config = {
        "name": f"asl-wlasl{cfg.vocab}-hands", "version": "2", "labels": list(labels),
        "features": fc.to_dict(), "model": mc.to_dict(),
        "train": {**cfg.to_dict(), "data": data or [], "holdout": "val", "command": command, "torch": torch.__version__,
                  "history": history[-1:] if history else []},
        "letters": {k: v for k, v in letters_cfg.get("letters", {}).items() if k not in ("labels", "n_in")},
        "segmentation": SegmentConfig().to_dict(), "fingerspelling": FingerspellConfig().to_dict(),
    }
    return save_checkpoint(out, model, letters, config)


def main(argv: list[str] | None = None) -> int:
    """``pack`` the hands data, ``train`` a checkpoint, ``calibrate`` it (``calibrate-hints``: cut-offs for word lists), or ``all`` (the model card's command)."""
    import argparse
    import json
    import sys

    p = argparse.ArgumentParser(prog="python -m signbridge.recognize.train_hands", description=main.__doc__)
    p.add_argument("step", choices=("pack", "train", "calibrate", "calibrate-hints", "all"))
    p.add_argument("--data", default="../shared/data/wlasl_hands_mediapipe", help="wlasl_hands_mediapipe folder")
    p.add_argument("--packed", default=".signbridge/wlasl_hands_24.npz", help="packed training file")
    p.add_argument("--out", default="signbridge/models/asl-wlasl-hands-v3", help="checkpoint folder")
    p.add_argument("--letters-from", default=None, help="checkpoint whose letter classifier is kept "
                   "(default: the shipped checkpoint's letters)")
    p.add_argument("--vocab", type=int, default=HandsTrainConfig.vocab)
    p.add_argument("--negatives", type=int, default=0, help="this many classes after the vocabulary are trained "
                   "towards a uniform output (outlier exposure); the rest stay unseen for calibration and evaluation")
    p.add_argument("--epochs", type=int, default=HandsTrainConfig.epochs)
    p.add_argument("--shown", type=int, default=300, help="words are shown for the first N classes (WLASL-N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=None)
    p.add_argument("--stop-after", type=int, default=None, help="stop at this step, keeping the full schedule")
    p.add_argument("--teachers", default="", help="comma-separated weights.pt of this recipe (other seeds): "
                   "distil their mean output into the model")
    p.add_argument("--distill-weight", type=float, default=HandsTrainConfig.distill_weight)
    p.add_argument("--distill-temperature", type=float, default=HandsTrainConfig.distill_temperature)
    p.add_argument("--signer-fold", default=None, help="i/k: train a fold model without signer fold i of k "
                   "(for signer-disjoint calibration, see signer_folds)")
    p.add_argument("--features", default=HandsTrainConfig.features, choices=VERSIONS,
                   help="hand feature version: 1 (the shipped model's) or 2 (adds where the hands are, issue #23)")
    p.add_argument("--fold-models", default="", help="calibrate: comma-separated fold checkpoints (one per fold "
                   "of k) whose out-of-fold confidences fit the thresholds")
    a = p.parse_args(argv)
    if a.signer_fold:
        from signbridge.recognize.signer_folds import parse_fold

        try:
            fold = parse_fold(a.signer_fold)
        except ValueError as e:
            p.error(str(e))
    command = "python -m signbridge.recognize.train_hands " + " ".join(argv if argv is not None else sys.argv[1:])
    if a.step in ("pack", "all"):
        from signbridge.recognize.wlasl_hands import clip_ids, pack

        pack(a.data, a.packed, HandsTrainConfig.n_steps, exclude_ids=clip_ids(Path(a.data).parent / "wlasl_clips"))
        print(f"packed {a.packed}")
    if a.step in ("train", "all"):
        from signbridge.recognize.checkpoint import shipped_dir
        from signbridge.recognize.wlasl_hands import gloss_names

        data = load_packed(a.packed)
        negatives = (a.vocab, min(a.vocab + a.negatives, 2000))
        cfg = HandsTrainConfig(vocab=a.vocab, negatives=negatives, epochs=a.epochs, seed=a.seed,
                               max_steps=a.max_steps, max_seconds=a.max_seconds, stop_after=a.stop_after,
                               teachers=tuple(t for t in a.teachers.split(",") if t),
                               distill_weight=a.distill_weight, distill_temperature=a.distill_temperature,
                               signer_fold=fold if a.signer_fold else None, features=a.features)
        model, history = train(data, cfg, a.device)
        letters_from = a.letters_from or shipped_dir()
        n_train = len(split_indices(data, cfg)["train"])
        save(model, cfg, gloss_names(data)[:a.vocab], history, a.out, letters_from, command,
             [{"spec": f"wlasl_hands:{a.data}", "n": n_train,
               "note": "NSLT-2000 train split of the vocabulary's classes; wlasl_clips video ids removed"
                       + (f"; signers of fold {cfg.signer_fold[0]} of {cfg.signer_fold[1]} removed"
                          if cfg.signer_fold else "")}])
        Path(a.out, "history.json").write_text(json.dumps(history, indent=1) + "\n")
        print(f"checkpoint written to {a.out}")
    if a.step in ("calibrate", "all"):
        from signbridge.recognize.wlasl_eval import calibrate_checkpoint

        calibrate_checkpoint(a.out, load_packed(a.packed), a.shown,
                             fold_models=[f for f in a.fold_models.split(",") if f])
        print(f"calibration written to {a.out}/calibration.json")
    if a.step in ("calibrate-hints", "all"):
        from signbridge.recognize.wlasl_eval import calibrate_hints

        calibrate_hints(a.out, load_packed(a.packed), fold_models=[f for f in a.fold_models.split(",") if f])
        print(f"word-list cut-offs written to {a.out}/calibration.json (vocabulary_hints)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
