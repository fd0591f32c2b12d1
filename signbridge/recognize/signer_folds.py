"""Signer-disjoint folds of the packed WLASL hands data, for calibration on signers a model never saw.

Every user is a new signer, but the NSLT-2000 splits share signers (of the WLASL-300 test clips, all but two
are by signers seen in training). So a threshold fitted on the val split says how precise the model is for
*seen* signers. Fold models are trained without one fold of signers; their confidences on that fold's clips
(out-of-fold) fit the thresholds, and that fold's *test-split* clips, never fitted on, measure them.

Folds are a fixed function of the signer id (a seeded hash), so training on the GPU machine and calibrating
here agree without passing lists around, whatever other signers a file holds. Clips with no known
signer (``-1``) are in no fold: they stay in every fold model's training.
"""
from __future__ import annotations

import hashlib

import numpy as np

FOLD_SEED = 20261201


def fold_of(signers: np.ndarray, k: int) -> np.ndarray:
    """(N,) fold index in [0, k) of each clip's signer; -1 where the signer is unknown.

    A function of the signer id alone (a seeded hash), so every file agrees: the training pack, which lacks
    the signers seen only in test clips, and the full pack calibration reads."""
    signers = np.asarray(signers).astype(np.int64)
    out = np.full(len(signers), -1, np.int64)
    for s in np.unique(signers[signers >= 0]):
        h = hashlib.sha256(f"{FOLD_SEED}:{int(s)}".encode()).digest()
        out[signers == s] = int.from_bytes(h[:8], "big") % k
    return out


def parse_fold(text: str) -> tuple[int, int]:
    """``"i/k"`` (fold i of k, 0-based) -> (i, k); ValueError with the expected form otherwise."""
    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"signer fold {text!r} is not of the form i/k (e.g. 0/3)") from None
    if not (k >= 2 and 0 <= i < k):
        raise ValueError(f"signer fold {text!r}: need k >= 2 and 0 <= i < k")
    return i, k
