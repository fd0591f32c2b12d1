"""Train / validation / test splits for ``signbridge dataset build``, signer-disjoint when signers are known.

A recogniser scored on people it was trained on looks better than it is (it learns a person's hands and
framing as much as the sign), so when the labels file names each video's signer, every signer's videos go
to exactly one split. A ``split`` column in the labels file wins (an official split, e.g. WLASL's); without
signers and without one, everything is ``train`` and the card says so.
"""
from __future__ import annotations

import hashlib
import re
from typing import Mapping

SPLITS = ("train", "validation", "test")
SIGNER_COLUMNS = ("signer", "signer_id", "participant", "participant_id", "subject", "speaker")
SPLIT_COLUMNS = ("split",)
_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")  # what the Hugging Face Hub accepts as a split name


def valid_split_name(name: str) -> bool:
    return bool(_SPLIT_NAME.match(name))


def _order(signer: str) -> str:
    """A stable tie-break that does not depend on the labels file's row order."""
    return hashlib.sha256(signer.encode()).hexdigest()


def assign_signers(videos_per_signer: Mapping[str, int], validation: float = 0.1,
                   test: float = 0.1) -> dict[str, str]:
    """Signer -> split, each signer in one split, the splits' shares of videos near the targets.

    Greedy, largest signer first: each goes to the split furthest below its target number of videos.
    Then every split with a target gets at least one signer while ``train`` keeps one (with two signers:
    train and test; with one: train only). Deterministic for the same signers and counts.
    """
    if validation < 0 or test < 0 or validation + test >= 1:
        raise ValueError(f"validation ({validation}) and test ({test}) shares must be >= 0 and sum below 1")
    shares = {"train": 1.0 - validation - test, "validation": validation, "test": test}
    total = sum(videos_per_signer.values())
    got = {k: 0 for k in SPLITS}
    out: dict[str, str] = {}
    rank = {"train": 0, "validation": 1, "test": 2}  # on a tie, test fills before validation

    def room(k: str) -> tuple[float, float, int]:
        return (shares[k] * total - got[k], shares[k], rank[k]) if shares[k] > 0 else (float("-inf"), 0.0, 0)

    for signer in sorted(videos_per_signer, key=lambda s: (-videos_per_signer[s], _order(s))):
        split = max(SPLITS, key=room)
        out[signer] = split
        got[split] += videos_per_signer[signer]
    for split in ("test", "validation"):  # a held-out split with a target but no signer takes train's smallest
        if shares[split] > 0 and split not in out.values():
            train = [s for s in out if out[s] == "train"]
            if len(train) > 1:
                out[min(train, key=lambda s: (videos_per_signer[s], _order(s)))] = split
    return out


__all__ = ["SPLITS", "SIGNER_COLUMNS", "SPLIT_COLUMNS", "assign_signers", "valid_split_name"]
