"""Fingerspelling: a letter classifier on single hand shapes, and letters-to-word decoding.

Letters are static hand shapes (J and Z are captured as one frame in our data,
so their motion is not modelled). A span is read as fingerspelling when one
hand is held up in a small area, the other hand is down, and the letter
classifier is more confident than the sign classifier; its frame-wise letters
are then collapsed into a word (``fs-CAT``). A doubled letter (``LL``) needs a
visible change between the two and is usually read once: a known limit.
"""
from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signbridge.recognize.features import hand_shape
from signbridge.recognize.frames import Frames, body_reference

LETTERS = tuple(string.ascii_uppercase)
_IU = np.triu_indices(21, k=1)


@dataclass(frozen=True)
class FingerspellConfig:
    min_hand_frac: float = 0.6  # share of the span's frames with the spelling hand detected
    max_other_raised: float = 0.3  # share of frames where the other hand is up (two-handed signs are not spelling)
    max_spread: float = 0.45  # spread of the palm centre (shoulder widths): spelling stays in place
    min_letter_conf: float = 0.8  # mean top letter probability inside the letter runs
    min_letter_share: float = 0.5  # share of the hand's frames that lie in confident letter runs
    frame_conf: float = 0.6  # a frame votes for a letter only above this
    min_letter_ms: float = 120.0  # a letter must be held at least this long

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FingerspellConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def letter_features(hands: np.ndarray) -> np.ndarray:
    """(N, 21, 3) raw hand points -> (N, 273): normalised shape + all pairwise 3-D distances."""
    s = hand_shape(hands)
    d = np.linalg.norm(s[:, _IU[0]] - s[:, _IU[1]], axis=-1)
    x = np.concatenate([s.reshape(len(s), -1), d], axis=1).astype(np.float32)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


N_LETTER_FEATURES = 63 + len(_IU[0])


# --------------------------------------------------------------------------- data + training

def load_alphabet(npz: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (N,21,3), y letter index, frame number) from the ASL-alphabet landmark file."""
    import re

    from signbridge.errors import InputError

    try:
        z = np.load(npz)
        X, labels, src = z["X"].astype(np.float32), z["label"], z["source_file"]
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"not an ASL-alphabet landmarks .npz ({e})", source=str(npz)) from None
    y = np.array([LETTERS.index(str(c).upper()) for c in labels])
    num = np.array([int(m.group(1)) if (m := re.search(r"(\d+)", str(s).rsplit("/", 1)[-1])) else 0 for s in src])
    return X, y, num


def block_split(y: np.ndarray, num: np.ndarray, block: int = 50, test_every: int = 5,
                test_offset: int = 2) -> np.ndarray:
    """True = held out. Consecutive frame numbers form blocks; every ``test_every``-th block is held out."""
    return ((num // block) % test_every) == test_offset


def augment_hands(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror (either hand spells), small in-plane rotation, anisotropic scale (unknown aspect ratio), noise."""
    X = X.copy()
    n = len(X)
    flip = rng.random(n) < 0.5
    X[flip, :, 0] = -X[flip, :, 0]
    ang = np.deg2rad(rng.uniform(-15, 15, n))
    c, s = np.cos(ang), np.sin(ang)
    x, y = X[:, :, 0] - X[:, :1, 0], X[:, :, 1] - X[:, :1, 1]
    X[:, :, 0] = (c[:, None] * x - s[:, None] * y) * rng.uniform(0.85, 1.15, (n, 1))
    X[:, :, 1] = s[:, None] * x + c[:, None] * y
    X[:, :, 2] *= rng.uniform(0.7, 1.3, (n, 1))
    X[:, :, :2] += rng.normal(0, 0.003, X[:, :, :2].shape)
    return X


def train_letters(X: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = 60, log=print):
    """Train the letter MLP; returns the model (CPU, eval mode)."""
    import torch

    from signbridge.recognize.model import LetterClassifier

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LetterClassifier(N_LETTER_FEATURES, len(LETTERS))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * ((len(X) + 127) // 128))
    yt = torch.as_tensor(y)
    for ep in range(epochs):
        model.train()
        xa = torch.as_tensor(letter_features(augment_hands(X, rng)))
        perm = torch.as_tensor(rng.permutation(len(X)))
        tot = 0.0
        for i in range(0, len(X), 128):
            b = perm[i:i + 128]
            loss = torch.nn.functional.cross_entropy(model(xa[b]), yt[b], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(b)
        if log and (ep % 10 == 0 or ep == epochs - 1):
            log(f"letters epoch {ep + 1}/{epochs} loss {tot / len(X):.4f}")
    model.eval()
    return model


def letter_probs(model, hands: np.ndarray, mirror: np.ndarray | None = None) -> np.ndarray:
    """(N, 26) letter probabilities; ``mirror`` flips x first (not needed: training mirrors)."""
    import torch

    if len(hands) == 0:
        return np.zeros((0, len(LETTERS)), np.float32)
    x = letter_features(hands)
    dev = next(iter(model.parameters()), torch.zeros(0)).device if hasattr(model, "parameters") else "cpu"
    with torch.inference_mode():
        p = torch.softmax(model(torch.as_tensor(x, device=dev)), -1).float().cpu().numpy()
    return p


# --------------------------------------------------------------------------- spans

@dataclass
class SpellReading:
    word: str
    confidence: float
    hand: str


def read_span(frames: Frames, i0: int, i1: int, letter_fn, cfg: FingerspellConfig, rest_line: float,
              ref=None) -> SpellReading | None:
    """A word if frames [i0, i1) look like fingerspelling, else None.

    ``letter_fn(hands (N, 21, 3)) -> (N, 26)`` is only called for a hand that passes the cheap checks
    (detected, the other hand down, staying in place), so most sign spans never run the letter model.
    """
    n = i1 - i0
    if n <= 0:
        return None
    cx, cy, sx, sy = body_reference(frames) if ref is None else ref
    best = None
    for name, hand, other in (("right", frames.right, frames.left), ("left", frames.left, frames.right)):
        pres = ~np.isnan(hand[i0:i1, 0, 0])
        if pres.mean() < cfg.min_hand_frac:
            continue
        oc = (other[i0:i1, 9, 1] - cy) / sy
        if np.mean(np.nan_to_num(oc, nan=np.inf) < rest_line) > cfg.max_other_raised:
            continue
        c = hand[i0:i1][pres][:, [0, 5, 9, 13, 17], :2].mean(axis=1)
        spread = float(np.sqrt(np.var((c[:, 0] - cx) / sx) + np.var((c[:, 1] - cy) / sy)))
        if spread > cfg.max_spread:
            continue
        p = letter_fn(hand[i0:i1][pres])
        runs = letter_runs(p, frames.t_ms[i0:i1][pres], cfg)
        covered = sum(r[2] for r in runs) / max(len(p), 1)
        if not runs or covered < cfg.min_letter_share:
            continue
        conf = float(np.average([r[1] for r in runs], weights=[r[2] for r in runs]))
        if conf < cfg.min_letter_conf:
            continue
        word = "".join(ch for k, (ch, _, _) in enumerate(runs) if k == 0 or runs[k - 1][0] != ch)
        if best is None or conf > best.confidence:
            best = SpellReading(word=word, confidence=conf, hand=name)
    return best


def letter_runs(p: np.ndarray, t: np.ndarray, cfg: FingerspellConfig) -> list[tuple[str, float, int]]:
    """Confident letter runs held long enough: (letter, mean probability, frames)."""
    lab = p.argmax(axis=1)
    top = p.max(axis=1)
    ok = top >= cfg.frame_conf
    step = float(np.median(np.diff(t))) if len(t) > 1 else 66.7
    runs: list[tuple[str, float, int]] = []
    i = 0
    while i < len(lab):
        if not ok[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(lab) and ok[j + 1] and lab[j + 1] == lab[i]:
            j += 1
        if t[j] - t[i] + step >= cfg.min_letter_ms:
            runs.append((LETTERS[lab[i]], float(top[i:j + 1].mean()), j - i + 1))
        i = j + 1
    return runs
