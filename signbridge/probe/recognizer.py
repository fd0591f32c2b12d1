"""Our recogniser under the same probes: hooks on its float (not TorchScript) modules.

Two models live in a checkpoint (see ``signbridge.recognize.checkpoint``):

* ``sign`` - the transformer encoder over landmark sequences. Layer 0 is the
  input to the first encoder block (projected features + positions), layer k the
  output of block k (mean over time steps), and the last layer is the unit
  embedding the cosine head scores.
* ``letters`` - the fingerspelling MLP on one hand shape: input features, the
  two hidden activations, and the logits.

Inputs: the ASL-alphabet hand landmarks (``.npz``; split by blocks of
consecutive frame numbers, never at random) and WLASL holistic ``.npy``
sequences (a folder with ``labels.csv``; split by signer).
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.errors import InputError, ModelError
from signbridge.probe.data import LabelledSet

log = logging.getLogger(__name__)

BLOCK = 50  # frames per block in the alphabet data (the recogniser's own block split uses the same size)


# -- data -------------------------------------------------------------------------------------------------
def load_alphabet_set(npz: str | Path, per_class: int | None = None, heldout_only: bool = False) -> LabelledSet:
    """Hands (21, 3) labelled A-Z, grouped by blocks of ``BLOCK`` consecutive frames of one letter.

    ``heldout_only`` keeps the blocks the recogniser's letter classifier never trained
    on (its ``block_split``); ``per_class`` keeps N evenly spaced frames per letter so
    every block stays represented.
    """
    from signbridge.recognize.fingerspell import LETTERS, block_split, load_alphabet

    X, y, num = load_alphabet(npz)
    keep = block_split(y, num) if heldout_only else np.ones(len(y), bool)
    idx = np.flatnonzero(keep)
    if per_class:
        chosen = []
        for c in np.unique(y[idx]):
            ic = idx[y[idx] == c]
            ic = ic[np.argsort(num[ic], kind="stable")]
            chosen += ic[np.unique(np.linspace(0, len(ic) - 1, min(per_class, len(ic))).round().astype(int))].tolist()
        idx = np.asarray(sorted(chosen))
    labels = np.asarray([LETTERS[i] for i in y[idx]])
    groups = np.asarray([f"{LETTERS[y[i]]}-{num[i] // BLOCK}" for i in idx])
    ids = [f"{LETTERS[y[i]]}/frame_{num[i]}" for i in idx]
    return LabelledSet([X[i] for i in idx], labels, ids, str(npz), groups=groups, kind="hands")


def load_wlasl_set(folder: str | Path, min_per_class: int = 3, group: str = "signer") -> LabelledSet:
    """WLASL holistic ``.npy`` sequences with glosses; glosses with fewer than ``min_per_class`` clips are dropped."""
    from signbridge.recognize.train import normalise_label  # the recogniser's spelling of glosses

    root = Path(folder)
    lab = root / "labels.csv"
    if not lab.is_file():
        raise InputError("has no labels.csv", source=str(root), hint="pass the wlasl_holistic_landmarks_npy folder")
    with lab.open(newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"file", "gloss"}
    if not rows or not need <= set(rows[0]):
        raise InputError(f"needs columns {sorted(need)}", source=str(lab))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["gloss"]] = counts.get(r["gloss"], 0) + 1
    items, labels, ids, groups = [], [], [], []
    skipped: list[tuple[str, str]] = []
    for r in rows:
        if counts[r["gloss"]] < min_per_class:
            continue
        p = root / r["file"]
        try:
            a = np.load(p).astype(np.float32)
            if a.ndim != 2 or a.shape[1] != 300 or len(a) == 0:
                raise ValueError(f"shape {a.shape}, expected (frames, 300)")
        except (OSError, ValueError) as e:
            skipped.append((r["file"], str(e)))
            continue
        items.append(a)
        labels.append(normalise_label(r["gloss"]))
        ids.append(r["file"])
        groups.append((r.get("signer_id") or r["file"]) if group == "signer" else r["file"])
    # a gloss seen from one signer only cannot be held out by signer: drop it (and say so)
    per_gloss: dict[str, set] = {}
    for lab_, g in zip(labels, groups):
        per_gloss.setdefault(lab_, set()).add(g)
    keep = [i for i, lab_ in enumerate(labels) if len(per_gloss[lab_]) >= 2]
    for lab_, gs in sorted(per_gloss.items()):
        if len(gs) < 2:
            skipped.append((lab_, f"all clips of this gloss are from one {group}: it cannot be held out"))
    if not keep:
        raise InputError(f"no gloss has {min_per_class} or more readable clips from 2 or more {group}s",
                         source=str(root))
    items, ids = [items[i] for i in keep], [ids[i] for i in keep]
    labels, groups = [labels[i] for i in keep], [groups[i] for i in keep]
    ds = LabelledSet(items, np.asarray(labels), ids, str(root), groups=np.asarray(groups), skipped=skipped,
                     kind="sequences")
    ds.splits = {r["file"]: r.get("split", "") for r in rows}  # type: ignore[attr-defined]
    return ds


# -- model --------------------------------------------------------------------------------------------------
def load_float(checkpoint: str | Path | None):
    """(SignClassifier, LetterClassifier, config, folder) from a checkpoint's float weights (shipped one if None)."""
    from signbridge.recognize.checkpoint import load_float_models, shipped_dir

    ckpt = Path(checkpoint).expanduser() if checkpoint else shipped_dir()
    if not (ckpt / "config.json").is_file():
        raise ModelError("has no config.json: not a recogniser checkpoint", source=str(ckpt),
                         hint="pass --checkpoint DIR written by `signbridge train`, or install the shipped one")
    model, letters, cfg = load_float_models(ckpt)
    return model, letters, cfg, ckpt


def _sign_features(data: LabelledSet, cfg: dict[str, Any]) -> np.ndarray:
    from signbridge.recognize.features import FeatureConfig, span_features
    from signbridge.recognize.frames import Frames, frames_from_npy
    from signbridge.recognize.hands import HandFeatureConfig, nose_anchor, sample_hands

    hands_only = cfg["features"].get("kind") == "hands"
    fc = FeatureConfig.from_dict(cfg["features"])
    hc = HandFeatureConfig.from_dict(cfg["features"])
    out = []
    for item, sid in zip(data.items, data.ids):
        if data.kind == "hands":
            # one still hand, held for one frame: the right (dominant) hand, no pose or other hand
            nan = np.full((1, 21, 3), np.nan, np.float32)
            f = Frames(t_ms=np.zeros(1), pose=np.full((1, 33, 4), np.nan, np.float32), left=nan,
                       right=np.asarray(item, np.float32)[None])
            span = np.array([[0.0, 40.0]])
        else:
            f = frames_from_npy(Path(data.source) / sid, fps=25.0)
            span = np.array([[f.t_ms[0], f.t_ms[-1] + 40.0]])
        anchor = nose_anchor(f, span) if hc.version == "2" else None
        out.append(hc.features(sample_hands(f, span, hc.n_steps), anchor) if hands_only
                   else span_features(f, span, fc))
    return np.concatenate(out).astype(np.float32)


def sign_layers(model) -> list:
    """Encoder blocks, then the embedding projection (its 2-D output is the embedding before normalising)."""
    enc = model.encoder
    return [*enc.enc.layers, enc.proj]


def letter_layers(letters) -> list:
    net = letters.net
    return [net[2], net[5], net[7]]  # after GELU 1, after GELU 2, logits


def recognizer_activations(model_part: str, data: LabelledSet, checkpoint: str | Path | None = None,
                           device: str = "cpu", batch_size: int = 512):
    """{'mean': (layers, n, dim)}, the model's own top-1 label per sample (or None), and info."""
    import torch

    from signbridge.probe.hooks import LayerRecorder, concat_batches
    from signbridge.probe.vlm import resolve_device

    model, letters, cfg, ckpt = load_float(checkpoint)
    dev = resolve_device(device)
    if model_part == "sign":
        x = _sign_features(data, cfg)
        net, layers, vocab, first = model, sign_layers(model), list(cfg["labels"]), None
    elif model_part == "letters":
        if data.kind != "hands":
            raise InputError("the letters model reads single hand shapes: use the alphabet data", source=data.source)
        from signbridge.recognize.fingerspell import LETTERS, letter_features

        x = letter_features(np.stack(data.items))
        net, layers, vocab, first = letters, letter_layers(letters), list(LETTERS), letters.net[0]
    else:
        raise InputError(f"unknown recogniser part {model_part!r}", hint="sign or letters")
    net = net.to(dev).eval()
    chunks: list[np.ndarray] = []
    own: list[str] = []
    with LayerRecorder(layers, ("mean",), input_module=first) as rec, torch.inference_mode():
        for s in range(0, len(x), batch_size):
            xb = torch.as_tensor(x[s:s + batch_size], device=dev)
            # fixed-length inputs: every time step is real (an MLP input is one "step")
            rec.arm(torch.ones(xb.shape[:2] if xb.dim() == 3 else (xb.shape[0], 1), dtype=torch.bool, device=dev))
            out = net(xb)
            logits = out[0] if isinstance(out, tuple) else out
            own += [vocab[i] for i in logits.argmax(-1).cpu().tolist()]
            chunks.append(rec.collect()["mean"])
    acts = concat_batches(chunks)
    names = {"sign": f"{len(layers) - 1} encoder blocks + embedding", "letters": "2 hidden layers + logits"}
    info = {"checkpoint": str(ckpt), "part": model_part, "layers": names[model_part],
            "checkpoint_name": cfg.get("name"), "checkpoint_version": cfg.get("version"), "device": dev}
    return {"mean": acts}, own, info


def split_note(data: LabelledSet) -> str | None:
    """How many samples the recogniser trained on, where the data says so (WLASL split column)."""
    splits = getattr(data, "splits", None)
    if not splits:
        return None
    n_train = sum(1 for i in data.ids if splits.get(i) == "train")
    return f"{n_train} of {len(data.ids)} clips are in the split the shipped recogniser trained on"

