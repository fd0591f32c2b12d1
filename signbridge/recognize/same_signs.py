"""WLASL glosses that are one ASL sign: their probabilities are pooled and one English word stands for them.

WLASL labels some signs with several English glosses (ILL and SICK, MOM and MOTHER, PURCHASE and BUY are the
same sign). A classifier trained on them as separate classes splits one sign's probability between its
names, so no name looks confident, and a clip labelled with one name but read as the other counts as a wrong
word although the caption means what was signed. Pooling a group's probability into one word (the group's
first gloss in WLASL class order, the most frequent name) fixes both.

Provenance: candidate pairs were the confusions of the model ensemble on the NSLT-2000 **val** split and the
calibration unknowns (never on the test split or the evaluation unknowns); a pair was kept only where, in the
engineers' knowledge of ASL, both glosses name the same sign or a noun/verb form of it with the same meaning
in a caption. It is a judgement, not a dictionary lookup: a Deaf signer should review it, and a wrong group
costs precision, which the held-out figures would show. Groups are copied into a checkpoint's
``calibration.json`` when it is calibrated, so thresholds and groups always travel together.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SAME_SIGNS: tuple[tuple[str, ...], ...] = (
    ("graduate", "graduation"), ("cop", "police", "policeman"), ("freeway", "highway"), ("ill", "sick"),
    ("happy", "joy"), ("mistake", "wrong"), ("notice", "recognize"), ("many", "numerous", "a lot"),
    ("odor", "smell"), ("part", "piece"), ("care", "careful"), ("city", "town"), ("dad", "father"),
    ("except", "special"), ("hurry", "rush"), ("check", "inspect"), ("lady", "woman"), ("law", "legal"),
    ("dissolve", "melt"), ("army", "military"), ("mine", "my"), ("necessary", "need", "should"),
    ("happen", "occur"), ("penalty", "punish"), ("able", "possible", "potential"),
    ("exact", "precise", "specific"), ("same", "similar"), ("theme", "topic"), ("agree", "agreement"),
    ("aim", "goal", "objective"), ("already", "finish", "done"), ("apart", "separate"),
    ("art", "sketch", "draw"), ("awful", "terrible"), ("bicycle", "bike"), ("bother", "disturb", "interrupt"),
    ("choice", "choose"), ("coat", "jacket"), ("compete", "race"), ("daily", "everyday"), ("damage", "destroy"),
    ("demand", "require"), ("director", "manager"), ("england", "english"), ("final", "last"),
    ("gas", "gasoline"), ("gift", "present"), ("grandma", "grandmother"), ("grateful", "thankful"),
    ("gray", "grey"), ("journey", "travel"), ("liability", "responsibility", "responsible"), ("lend", "loan"),
    ("melody", "song"), ("center", "middle"), ("minus", "negative"), ("mom", "mother"), ("kill", "murder"),
    ("obtain", "receive"), ("alone", "only"), ("out", "outside"), ("conquer", "overcome"), ("path", "street"),
    ("phrase", "sentence"), ("pity", "sympathy"), ("place", "position"), ("delay", "postpone", "procrastinate"),
    ("poor", "poverty"), ("practice", "rehearse"), ("private", "secret"), ("relate", "relationship"),
    ("box", "room"), ("sell", "store"), ("beginning", "start"), ("bye", "goodbye"), ("dead", "die"),
    ("human", "person"), ("clever", "smart"), ("image", "picture"), ("in", "inside"),
    ("inform", "information"), ("each", "every"), ("another", "other"), ("alligator", "crocodile"),
    ("calm", "tranquil"), ("camp", "camping", "tent"), ("celebrate", "festival"), ("awkward", "clumsy"),
    ("boast", "brag"), ("blame", "fault"), ("debt", "owe"), ("defend", "protect"),
    ("demonstrate", "show", "exhibit"), ("detach", "disconnect"), ("divide", "division"), ("dusk", "evening"),
    ("during", "while"), ("effort", "try"), ("evidence", "proof"), ("france", "french"), ("german", "germany"),
    ("joke", "tease"), ("affect", "influence"), ("again", "repeat"), ("aid", "help"),
    ("appetite", "crave", "hungry"), ("accident", "crash"), ("cute", "sweet"), ("guide", "lead"),
    ("control", "manage"), ("debate", "discuss"), ("excuse", "forgive"),
)


def groups_for(vocabulary: Sequence[str], groups: Sequence[Sequence[str]] = SAME_SIGNS) -> list[list[str]]:
    """The groups with at least two glosses in ``vocabulary``, each in vocabulary order (first = the word)."""
    pos = {g: i for i, g in enumerate(vocabulary)}
    out = []
    for grp in groups:
        members = sorted({g for g in grp if g in pos}, key=pos.__getitem__)
        if len(members) > 1:
            out.append(members)
    return out


def representatives(vocabulary: Sequence[str], groups: Sequence[Sequence[str]]) -> np.ndarray:
    """(len(vocabulary),) index of the gloss that stands for each gloss (itself when it is in no group)."""
    pos = {g: i for i, g in enumerate(vocabulary)}
    rep = np.arange(len(vocabulary))
    for grp in groups:
        idx = sorted(pos[g] for g in grp if g in pos)
        if len(idx) > 1:
            rep[idx] = idx[0]
    return rep


def pool(probs: np.ndarray, rep: np.ndarray) -> np.ndarray:
    """Probabilities with each group's mass on its first gloss and zero on the others (columns beyond
    ``rep``, few-shot glosses, stay as they are)."""
    moved = np.flatnonzero(rep != np.arange(len(rep)))
    if moved.size == 0:
        return probs
    out = probs.copy()
    np.add.at(out, (slice(None), rep[moved]), probs[:, moved])
    out[:, moved] = 0.0
    return out


def word_for(gloss: str, vocabulary: Sequence[str], groups: Sequence[Sequence[str]] = SAME_SIGNS) -> str:
    """The word a model of ``vocabulary`` shows for a clip labelled ``gloss`` when it reads it right: the first
    gloss of its same-sign group in vocabulary order (for scoring clips against their labels)."""
    pos = {g: i for i, g in enumerate(vocabulary)}
    for grp in groups:
        if gloss in grp:
            members = sorted((g for g in grp if g in pos), key=pos.__getitem__)
            return members[0] if members else gloss
    return gloss
