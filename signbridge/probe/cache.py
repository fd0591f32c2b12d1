"""Activation cache: one NPZ per (model, inputs, extraction options, pooling).

Probes are cheap and get re-run with other splits or C; the forward passes are
not. Files live in ``$SIGNBRIDGE_HOME/cache/probe/``. The model part of the key
hashes config.json and, per weight file, its name, size and first/last MiB:
reading 14 GB of weights to key a cache would cost more than it saves, and the
sampled bytes change whenever a checkpoint is re-trained or re-quantised.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.errors import InputError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
_MIB = 1 << 20


def cache_dir(home: str | Path) -> Path:
    return Path(home) / "cache" / "probe"


def model_fingerprint(path: str | Path) -> str:
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
    for f in files:
        rel = f.name if p.is_file() else str(f.relative_to(p))
        if f.suffix in WEIGHT_SUFFIXES:
            size = f.stat().st_size
            h.update(f"{rel}|{size}|".encode())
            with f.open("rb") as fh:
                h.update(fh.read(_MIB))
                if size > 2 * _MIB:
                    fh.seek(-_MIB, os.SEEK_END)
                    h.update(fh.read(_MIB))
        elif f.suffix in (".json", ".jinja", ".txt", ".model") and f.stat().st_size < 64 * _MIB:
            h.update(f"{rel}|".encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def storable(x: np.ndarray) -> np.ndarray:
    """float16 when that loses no range (halves a 7B sweep's cache), else float32.

    Applied before probing too, so a run from the cache and the run that filled it
    see the same numbers.
    """
    h = np.asarray(x).astype(np.float16)
    return h if np.isfinite(h).all() else np.asarray(x, dtype=np.float32)


@dataclass
class Activations:
    """Pooled activations of one pooling: ``x`` is (layers, samples, hidden), or a list of
    (samples, width) arrays when layers differ in width (an MLP)."""

    x: np.ndarray | list[np.ndarray]
    layers: list[int]
    labels: np.ndarray
    ids: list[str]
    pooling: str
    groups: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Atomic write, in :func:`storable` precision."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(self.x, list):
            arrays: dict[str, np.ndarray] = {f"x_{i}": storable(a) for i, a in enumerate(self.x)}
        else:
            arrays = {"x": storable(self.x)}
        arrays.update(
            layers=np.asarray(self.layers, dtype=np.int32), labels=self.labels.astype(str),
            ids=np.asarray(self.ids, dtype=str), pooling=np.asarray(self.pooling),
            meta=np.asarray(json.dumps(self.meta, default=str)),
        )
        if self.groups is not None:
            arrays["groups"] = self.groups.astype(str)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Activations":
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                if "x" in z.files:
                    x: np.ndarray | list[np.ndarray] = z["x"].astype(np.float32)
                else:
                    x = [z[f"x_{i}"].astype(np.float32) for i in range(len(z["layers"]))]
                return cls(
                    x=x, layers=z["layers"].tolist(), labels=z["labels"],
                    ids=z["ids"].tolist(), pooling=str(z["pooling"]),
                    groups=z["groups"] if "groups" in z.files else None, meta=json.loads(str(z["meta"])),
                )
        except FileNotFoundError:
            raise InputError("does not exist", source=str(p), hint="pass an activations .npz written by signbridge probe") from None
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as e:
            raise InputError(f"is not a probe activations file ({e})", source=str(p),
                             hint="pass an .npz from $SIGNBRIDGE_HOME/cache/probe or --save-activations") from None
