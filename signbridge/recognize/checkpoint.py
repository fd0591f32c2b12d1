"""Checkpoint directories: what is saved, how it is checked, and the runtime that loads it.

A checkpoint is a folder::

    config.json   labels, vocabulary hash, feature/model/segmentation/fingerspelling settings, training record
    weights.pt    float state_dict of the sign classifier (for resuming / fine-tuning)
    letters.pt    float state_dict of the letter classifier
    model.ts      TorchScript sign classifier: features (N, T, F) -> (logits, embedding)   [inference]
    letters.ts    TorchScript letter classifier: letter features (N, 273) -> logits          [inference]
    calibration.json  temperature, shown vocabulary and the confidence thresholds of the three
                  tiers, fitted on held-out data for this model and vocabulary (:mod:`openset`)
    MODEL_CARD.md what it was trained on, how well it does, what it cannot do

Inference needs the TorchScript files, config.json and calibration.json. The features are either the
hands-only ones of the WLASL-scale model (``features.kind == "hands"``, :mod:`hands`) or the Holistic
body + hands ones of the small-vocabulary trainer (:mod:`features`). Few-shot glosses
added with ``signbridge vocab add`` live in ``fewshot.json`` beside the
checkpoint (for the shipped checkpoint, inside ``$SIGNBRIDGE_HOME`` so the
installed package is never written to).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.errors import ModelError
from signbridge.recognize.features import FeatureConfig
from signbridge.recognize.fingerspell import LETTERS, N_LETTER_FEATURES, FingerspellConfig
from signbridge.recognize.hands import VERSIONS as HAND_VERSIONS
from signbridge.recognize.hands import HandFeatureConfig, nose_anchor, sample_hands
from signbridge.recognize.openset import read_calibration
from signbridge.recognize.same_signs import pool, representatives
from signbridge.recognize.segment import SegmentConfig

log = logging.getLogger(__name__)

SHIPPED_NAME = "asl-wlasl-hands-v3"
FORMAT_VERSION = 1


def shipped_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / SHIPPED_NAME


def checkpoint_dir(settings) -> Path:
    return Path(settings.checkpoint).expanduser() if settings.checkpoint else shipped_dir()


def fewshot_path(settings) -> Path:
    if settings.checkpoint:
        return checkpoint_dir(settings) / "fewshot.json"
    return Path(settings.home) / "recognize" / SHIPPED_NAME / "fewshot.json"


def vocabulary_sha256(labels: list[str]) -> str:
    return hashlib.sha256("\n".join(labels).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_config(ckpt: str | Path) -> dict[str, Any]:
    """config.json of a checkpoint, checked for the things that make a checkpoint unusable."""
    ckpt = Path(ckpt)
    src = str(ckpt)
    if not ckpt.is_dir():
        raise ModelError("checkpoint folder not found", source=src,
                         hint="set SIGNBRIDGE_CHECKPOINT to a folder written by `signbridge train`, or unset it")
    try:
        cfg = json.loads((ckpt / "config.json").read_text())
    except FileNotFoundError:
        raise ModelError("no config.json in the checkpoint folder", source=src,
                         hint="is this a folder written by `signbridge train`?") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"config.json is not valid JSON ({e})", source=src) from None
    if cfg.get("format") != FORMAT_VERSION:
        raise ModelError(f"checkpoint format {cfg.get('format')!r} is not supported (this SignBridge reads "
                         f"{FORMAT_VERSION})", source=src, hint="retrain with `signbridge train`")
    labels = cfg.get("labels")
    if not isinstance(labels, list) or not labels:
        raise ModelError("config.json has no label list", source=src)
    if cfg.get("vocabulary_sha256") != vocabulary_sha256(labels):
        raise ModelError("the label list in config.json does not match the vocabulary the model was trained on",
                         source=src, hint="do not edit labels by hand; use `signbridge vocab add` for new glosses")
    if cfg.get("model", {}).get("n_classes") != len(labels):
        raise ModelError(f"the model has {cfg.get('model', {}).get('n_classes')} outputs but the vocabulary has "
                         f"{len(labels)} labels: this is a checkpoint of another vocabulary", source=src)
    return cfg


@dataclass
class FewShot:
    """Glosses added from example clips: one unit prototype each, compared like the trained classes."""

    path: Path
    labels: list[str] = field(default_factory=list)
    prototypes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    entries: dict[str, Any] = field(default_factory=dict)


def load_fewshot(path: Path, weights_sha: str, d_model: int) -> FewShot:
    if not path.is_file():
        return FewShot(path=path, prototypes=np.zeros((0, d_model), np.float32))
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"few-shot vocabulary file is not valid JSON ({e})", source=str(path)) from None
    if doc.get("model", {}).get("weights_sha256") != weights_sha:
        raise ModelError("this few-shot vocabulary was made with another checkpoint", source=str(path),
                         hint="re-add the glosses with `signbridge vocab add` for this checkpoint, or remove the file")
    entries = doc.get("glosses", {})
    labels = sorted(entries)
    protos = np.array([entries[g]["prototype"] for g in labels], np.float32).reshape(-1, d_model)
    return FewShot(path=path, labels=labels, prototypes=protos, entries=entries)


class Recognizer:
    """Loaded TorchScript models + vocabulary, on one device; the inference runtime."""

    def __init__(self, ckpt: str | Path, device: str = "auto", fewshot: Path | None = None, threads: int = 1):
        import torch

        from signbridge.torch_device import torch_device

        self.dir = Path(ckpt)
        self.threads = int(threads)
        self.config = read_config(self.dir)
        self.device = torch_device(device)
        for name in ("model.ts", "letters.ts"):
            if not (self.dir / name).is_file():
                raise ModelError(f"{name} is missing from the checkpoint", source=str(self.dir),
                                 hint="re-export with `signbridge train --export-only --resume DIR`")
        try:
            self.model = torch.jit.load(str(self.dir / "model.ts"), map_location=self.device).eval()
            self.letters = torch.jit.load(str(self.dir / "letters.ts"), map_location=self.device).eval()
        except RuntimeError as e:
            raise ModelError(f"cannot load the TorchScript model ({str(e).splitlines()[0]})", source=str(self.dir)) from None
        self.hands_only = self.config["features"].get("kind") == "hands"
        self.feature_cfg = (HandFeatureConfig.from_dict(self.config["features"]) if self.hands_only
                            else FeatureConfig.from_dict(self.config["features"]))
        self.segment_cfg = SegmentConfig.from_dict(self.config.get("segmentation", {}))
        self.spell_cfg = FingerspellConfig.from_dict(self.config.get("fingerspelling", {}))
        if self.hands_only and self.feature_cfg.version not in HAND_VERSIONS:
            raise ModelError(f"hand feature version {self.feature_cfg.version!r} is not one this SignBridge knows "
                             f"({', '.join(HAND_VERSIONS)})", source=str(self.dir), hint="upgrade SignBridge")
        m = self.config["model"]
        if m["n_features"] != self.feature_cfg.n_features:
            raise ModelError(f"model expects {m['n_features']} features, feature settings give "
                             f"{self.feature_cfg.n_features}", source=str(self.dir))
        if self.config.get("letters", {}).get("n_in", N_LETTER_FEATURES) != N_LETTER_FEATURES:
            raise ModelError("letter classifier was trained on other hand features", source=str(self.dir))
        self.scale = float(m["scale"])
        self.d_model = int(m["d_model"])
        self.base_labels: list[str] = list(self.config["labels"])
        with torch.inference_mode():  # the exported graph must agree with the label list
            out = self.model(torch.zeros(1, self.feature_cfg.n_steps, m["n_features"], device=self.device))[0]
        if out.shape[-1] != len(self.base_labels):
            raise ModelError(f"model.ts has {out.shape[-1]} outputs but config.json lists {len(self.base_labels)} "
                             "labels: a checkpoint of another vocabulary", source=str(self.dir))
        self.calibration = read_calibration(self.dir, self.config)
        self.temperature = float(self.calibration["temperature"])
        self.same_signs = representatives(self.base_labels, self.calibration.get("same_signs", []))
        self.thresholds = {k: float(v) for k, v in self.calibration["thresholds"].items()}
        self.weights_sha = self.config.get("weights_sha256", "")
        self.fewshot = load_fewshot(fewshot or self.dir / "fewshot.json", self.weights_sha, self.d_model)
        clash = set(self.fewshot.labels) & set(self.base_labels)
        if clash:
            raise ModelError(f"few-shot glosses {sorted(clash)} are also trained classes", source=str(self.fewshot.path))
        self._fs = torch.as_tensor(self.fewshot.prototypes, device=self.device)

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.dir.name))

    @property
    def version(self) -> str:
        return str(self.config.get("version", "0"))

    @property
    def labels(self) -> list[str]:
        return self.base_labels + self.fewshot.labels

    def shown(self, index: int) -> bool:
        """Whether a label is in the shown vocabulary (few-shot glosses always are)."""
        n = int(self.calibration.get("shown_classes", len(self.base_labels)))
        return index < n or index >= len(self.base_labels)

    def features(self, frames, spans_ms: np.ndarray, ref=None) -> np.ndarray:
        """(S, T, F) model input for spans of one video, in this checkpoint's feature kind."""
        if self.hands_only:
            fc = self.feature_cfg
            anchor = nose_anchor(frames, spans_ms) if fc.version == "2" else None
            return fc.features(sample_hands(frames, spans_ms, fc.n_steps), anchor)
        from signbridge.recognize.features import span_features

        return span_features(frames, spans_ms, self.feature_cfg, ref=ref)

    @property
    def vocabulary_sha256(self) -> str:
        return vocabulary_sha256(self.labels + [f"fs-{c}" for c in LETTERS])

    @contextlib.contextmanager
    def _cpu_threads(self):
        """Run with ``threads`` intra-op threads on CPU and restore the process setting afterwards.

        On a 2-core machine shared with other work, torch's second thread spin-waits for a busy core and a
        forward pass gets 10 to 1000 times slower (benchmarks/bench_recognize.py measures both).
        """
        import torch

        if self.device.type != "cpu" or self.threads <= 0:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def classify(self, x: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(N, T, F) features -> (probabilities over ``labels``, unit embeddings).

        Glosses of one same-sign group (calibration.json's ``same_signs``) pool their probability into the
        group's first gloss, the word shown for all of them; the others get 0."""
        import torch

        n = x.shape[0]
        if n == 0:
            return np.zeros((0, len(self.labels)), np.float32), np.zeros((0, self.d_model), np.float32)
        if x.shape[1:] != (self.feature_cfg.n_steps, self.feature_cfg.n_features):
            raise ModelError(f"features of shape {x.shape[1:]} do not fit this model", source=str(self.dir))
        probs, embs = [], []
        bs = max(1, int(batch_size))
        with torch.inference_mode(), self._cpu_threads():
            for i in range(0, n, bs):
                xb = torch.as_tensor(x[i:i + bs], device=self.device)
                logits, emb = self.model(xb)
                if self._fs.shape[0]:
                    logits = torch.cat([logits, self.scale * emb @ self._fs.t()], dim=1)
                probs.append(torch.softmax(logits.float() / self.temperature, dim=-1).cpu().numpy())
                embs.append(emb.float().cpu().numpy())
        return pool(np.concatenate(probs), self.same_signs), np.concatenate(embs)

    def embed(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return self.classify(x, batch_size)[1]

    def letter_probs(self, hands: np.ndarray) -> np.ndarray:
        """(N, 21, 3) raw hands -> (N, 26); rows with a missing hand give junk and are ignored by the caller."""
        import torch

        from signbridge.recognize.fingerspell import letter_features

        if len(hands) == 0:
            return np.zeros((0, len(LETTERS)), np.float32)
        with torch.inference_mode(), self._cpu_threads():
            logits = self.letters(torch.as_tensor(letter_features(hands), device=self.device))
            return torch.softmax(logits.float(), -1).cpu().numpy()


_CACHE: dict[tuple, Recognizer] = {}


def load_recognizer(settings) -> Recognizer:
    """The recogniser for these settings; cached per (checkpoint, device, few-shot file state)."""
    ckpt = checkpoint_dir(settings)
    fs = fewshot_path(settings)
    stamp = fs.stat().st_mtime_ns if fs.is_file() else 0
    cfg_stamp = tuple((ckpt / n).stat().st_mtime_ns if (ckpt / n).is_file() else 0
                      for n in ("config.json", "calibration.json"))
    threads = getattr(settings, "recognize_threads", 1)
    key = (str(ckpt.resolve()), settings.device, str(fs), stamp, cfg_stamp, threads)
    rec = _CACHE.get(key)
    if rec is None:
        if ckpt == shipped_dir() and not (ckpt / "config.json").is_file():
            raise ModelError("the shipped checkpoint is missing from this installation", source=str(ckpt),
                             hint="reinstall SignBridge or set SIGNBRIDGE_CHECKPOINT")
        rec = Recognizer(ckpt, settings.device, fs, threads)
        _CACHE.clear()
        _CACHE[key] = rec
    return rec


def save_checkpoint(out: str | Path, model, letters, config: dict[str, Any]) -> Path:
    """Write weights, TorchScript exports and config.json (config last, so a half-written folder never loads)."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    letters = letters.cpu().eval()
    torch.save(model.state_dict(), out / "weights.pt")
    torch.save(letters.state_dict(), out / "letters.pt")
    export_torchscript(model, letters, out, config["features"]["n_steps"], config["model"]["n_features"])
    cfg = dict(config)
    cfg["format"] = FORMAT_VERSION
    cfg["vocabulary_sha256"] = vocabulary_sha256(cfg["labels"])
    cfg["weights_sha256"] = file_sha256(out / "model.ts")
    cfg["letters"] = {"labels": list(LETTERS), "n_in": N_LETTER_FEATURES, **cfg.get("letters", {})}
    tmp = out / "config.json.tmp"
    tmp.write_text(json.dumps(cfg, indent=1, sort_keys=False) + "\n")
    tmp.replace(out / "config.json")
    return out


def export_torchscript(model, letters, out: Path, n_steps: int, n_features: int) -> None:
    import torch

    with torch.no_grad():
        ex = torch.zeros(2, n_steps, n_features)
        ts = torch.jit.trace(model, ex, check_trace=False)
        ts.save(str(out / "model.ts"))
        lt = torch.jit.trace(letters, torch.zeros(2, N_LETTER_FEATURES), check_trace=False)
        lt.save(str(out / "letters.ts"))


def load_float_models(ckpt: str | Path):
    """(SignClassifier, LetterClassifier, config) from the float weights, for resuming and evaluation."""
    import torch

    from signbridge.recognize.model import LetterClassifier, ModelConfig, SignClassifier

    ckpt = Path(ckpt)
    cfg = read_config(ckpt)
    model = SignClassifier(ModelConfig.from_dict(cfg["model"]))
    letters = LetterClassifier(N_LETTER_FEATURES, len(LETTERS))
    try:
        model.load_state_dict(torch.load(ckpt / "weights.pt", map_location="cpu"))
        letters.load_state_dict(torch.load(ckpt / "letters.pt", map_location="cpu"))
    except FileNotFoundError as e:
        raise ModelError(f"{Path(e.filename).name} is missing from the checkpoint", source=str(ckpt)) from None
    except RuntimeError as e:
        raise ModelError(f"weights do not fit config.json ({str(e).splitlines()[0]}): a checkpoint of another "
                         "vocabulary or size", source=str(ckpt)) from None
    return model.eval(), letters.eval(), cfg
