"""Few-shot vocabulary: add a sign from 1-5 example clips, without retraining.

A new gloss is stored as the normalised mean embedding of its examples (a
prototype), in ``fewshot.json`` beside the checkpoint. Because the classifier
head is itself a set of unit prototypes compared by cosine, a stored prototype
is scored exactly like a trained class, from the next recognition call on.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from signbridge.errors import InputError, ModelError
from signbridge.recognize.frames import Frames

MAX_CLIPS = 5


def example_embeddings(rec, examples: Sequence[tuple[Frames, str]]) -> np.ndarray:
    from signbridge.recognize.train import active_span

    feats = []
    for frames, src in examples:
        if len(frames) == 0:
            raise InputError("the example has no frames", source=src)
        if not frames.any_hand.any():
            raise InputError("no hands detected in any frame of the example", source=src,
                             hint="use a clip where the signer's hands are visible")
        feats.append(rec.features(frames, active_span(frames, rec.segment_cfg)))
    return rec.embed(np.concatenate(feats))


def prototype(embs: np.ndarray) -> np.ndarray:
    m = embs.mean(axis=0)
    return (m / max(float(np.linalg.norm(m)), 1e-8)).astype(np.float32)


def load_example(path: str, settings) -> tuple[Frames, str, str]:
    """A video (extracted with our extractor) or an already extracted landmarks Parquet -> Frames."""
    from signbridge.recognize.frames import frames_from_table, read_landmarks_file

    if path.endswith(".parquet"):
        table = read_landmarks_file(path, settings)
    else:
        if not path.startswith("s3://") and not Path(path).is_file():
            raise InputError("example clip not found", source=path)
        from signbridge.extract import extract_video

        table = extract_video(path, settings).table
    frames = frames_from_table(table, source=path)
    return frames, path, str(frames.meta.get("sha256", ""))


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def _doc(rec) -> dict[str, Any]:
    return {"format": 1, "model": {"name": rec.name, "version": rec.version, "weights_sha256": rec.weights_sha},
            "glosses": dict(rec.fewshot.entries)}


def add_gloss(gloss: str, clips: Sequence[str], settings) -> dict[str, Any]:
    from signbridge.recognize.checkpoint import load_recognizer

    gloss = " ".join(gloss.strip().lower().split())
    if not gloss or gloss.upper() == "UNKNOWN" or gloss.startswith("fs-"):
        raise InputError(f"{gloss!r} cannot be a gloss name", hint="use a word such as 'teacher'")
    if not 1 <= len(clips) <= MAX_CLIPS:
        raise InputError(f"give 1 to {MAX_CLIPS} example clips, got {len(clips)}")
    rec = load_recognizer(settings)
    if gloss in rec.base_labels:
        raise InputError(f"{gloss!r} is already a trained class of {rec.name}",
                         hint="few-shot glosses add new signs; retrain to change a trained one")
    examples = [load_example(c, settings) for c in clips]
    embs = example_embeddings(rec, [(f, s) for f, s, _ in examples])
    doc = _doc(rec)
    doc["glosses"][gloss] = {"prototype": [round(float(v), 6) for v in prototype(embs)],
                             "clips": [{"uri": s, "sha256": h} for _, s, h in examples],
                             "added_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}
    _write(rec.fewshot.path, doc)
    return {"gloss": gloss, "clips": len(clips), "file": str(rec.fewshot.path)}


def remove_gloss(gloss: str, settings) -> str:
    from signbridge.recognize.checkpoint import load_recognizer

    gloss = " ".join(gloss.strip().lower().split())
    rec = load_recognizer(settings)
    if gloss not in rec.fewshot.entries:
        where = "a trained class (cannot be removed)" if gloss in rec.base_labels else "not in the few-shot vocabulary"
        raise InputError(f"{gloss!r} is {where}", hint="`signbridge vocab list` shows what can be removed")
    doc = _doc(rec)
    del doc["glosses"][gloss]
    _write(rec.fewshot.path, doc)
    return str(rec.fewshot.path)


def list_vocab(settings) -> dict[str, Any]:
    from signbridge.recognize.checkpoint import load_recognizer

    rec = load_recognizer(settings)
    return {"model": f"{rec.name} {rec.version}", "checkpoint": str(rec.dir), "trained": rec.base_labels,
            "few_shot": {g: len(e.get("clips", [])) for g, e in rec.fewshot.entries.items()},
            "few_shot_file": str(rec.fewshot.path), "fingerspelling": "fs-WORD from the letters A-Z"}


def leave_one_out(rec, examples: Sequence[tuple[Frames, str]], include_trained: bool = False) -> dict[str, Any]:
    """Leave-one-out accuracy of prototypes built from the other clips of each gloss (>= 2 clips per gloss).

    Candidates are the few-shot glosses (and, with ``include_trained``, every trained class too).
    """
    labels = [g for _, g in examples]
    glosses = sorted({g for g in labels if labels.count(g) >= 2})
    keep = [i for i, g in enumerate(labels) if g in glosses]
    embs = example_embeddings(rec, [(examples[i][0], examples[i][1]) for i in keep])
    lab = [labels[i] for i in keep]
    base = None
    if include_trained:
        base = _trained_prototypes(rec)
    hits = []
    for j in range(len(lab)):
        protos, names = [], []
        for g in glosses:
            idx = [k for k in range(len(lab)) if lab[k] == g and k != j]
            protos.append(prototype(embs[idx]))
            names.append(g)
        if base is not None:
            for g, v in zip(rec.base_labels, base):
                if g not in glosses:
                    protos.append(v)
                    names.append(g)
        sims = np.stack(protos) @ embs[j]
        hits.append(names[int(np.argmax(sims))] == lab[j])
    return {"glosses": len(glosses), "trials": len(hits), "top1": float(np.mean(hits)) if hits else 0.0,
            "candidates": "few-shot + trained" if include_trained else "few-shot only"}


def _trained_prototypes(rec) -> np.ndarray:
    """Unit class vectors of the trained head, read from the float weights beside the TorchScript file."""
    import torch

    try:
        state = torch.load(rec.dir / "weights.pt", map_location="cpu")
    except FileNotFoundError:
        raise ModelError("weights.pt is missing from the checkpoint", source=str(rec.dir)) from None
    w = state["weight"].numpy()
    return w / np.linalg.norm(w, axis=1, keepdims=True)
