"""Script alignment: place the words of a known script on the video's signing, in order.

Forced alignment as speech tools do it (whisperX, aeneas), over sign spans instead of phonemes: a monotonic
dynamic programme over the segmenter's pieces and the script's signs. A script sign may take one piece, the
merge of up to ``MAX_MERGE`` neighbouring pieces (a sign the segmenter cut in two), or half of a long piece
(two signs with no rest between them). Its cost is the classifier's surprise at that sign there
(-log posterior under the script's words as a list prior, :mod:`listprior`); a piece left over is signing
the script does not have (``INSERT`` cost), a script sign left over is reported as not placed (``SKIP``),
never squeezed in. Words are only placed on pieces where hands sign, so nothing lands on a pause, and a
script far longer than the signing leaves its surplus unplaced rather than stretched over the video.

Each placed span carries its script word and an alignment confidence: how much more the classifier
prefers this word on this span than its neighbours in the script (window of +-2 words), so a reviewer
sees where the order alone, not the signs, decided the placement.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signbridge.recognize.hints import Script
from signbridge.recognize.listprior import posterior
from signbridge.recognize.segment import activity, pad_spans

MAX_MERGE = 4
MIN_PIECE_MS = 450.0
MAX_UNIT_MS = 4500.0
MAX_GAP_MS = 1200.0  # pieces further apart than this are never one sign
SPLIT_MS = 1700.0  # pieces longer than this may hold two signs
INSERT = 5.0  # cost of signing that is not in the script (about -log 0.007)
SKIP = 5.0  # cost of a script sign that is not placed
MERGE = 0.3  # cost per extra piece in a merged sign
CUT = 3.0  # cost of a span boundary inside a segmenter piece (where no rest separates two signs)
MAX_COST = 12.0
WINDOW = 2
BOUNDARY = 0.65  # where in the rest between two signs one span ends and the next begins (signs end with a longer return to rest than they start)
# SPLIT_MS, MIN_PIECE_MS, CUT and BOUNDARY were chosen on the 28-sign bench video and lesson 0 of
# benchmarks/bench_hints.py; lesson 1 is the held-out check (docs/hints.md)


@dataclass
class Placement:
    slot: int  # index into script.words
    core_ms: tuple[float, float]
    unit: int
    cost: float
    confidence: float


@dataclass
class Alignment:
    placed: list[Placement]
    unplaced: list[int]  # script.words indices
    extra: list[tuple[float, float]]  # core spans of signing no script word took
    unit_probs: np.ndarray  # (U, L) pooled class probabilities of every candidate unit
    unit_core: np.ndarray  # (U, 2)
    extra_units: list[int]


def atoms(frames, core: np.ndarray, cfg, ref) -> tuple[np.ndarray, np.ndarray]:
    """The segmenter's pieces, long ones cut where the hands move slowest (signs with no rest between them).

    Cutting too often costs little (the alignment merges pieces back); too seldom, two script words share one
    span. So a piece longer than ``SPLIT_MS`` is cut at its slowest moments, at least ``MIN_PIECE_MS`` apart."""
    if len(core) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2), bool)
    from signbridge.recognize.segment import _smooth

    _, speed, _ = activity(frames, cfg, ref)
    t = frames.t_ms
    speed = _smooth(speed, t, 100.0) if len(t) > 2 else speed
    out, cut = [], []
    for a, b in core:
        cuts: list[float] = []
        if b - a > SPLIT_MS:
            i0, i1 = np.searchsorted(t, [a + MIN_PIECE_MS, b - MIN_PIECE_MS])
            for j in (i0 + np.argsort(speed[i0:i1], kind="stable")).tolist():
                if len(cuts) >= int((b - a) // SPLIT_MS) * 2:
                    break
                if all(abs(t[j] - c) >= MIN_PIECE_MS for c in cuts):
                    cuts.append(float(t[j]))
        edges = [float(a), *sorted(cuts), float(b)]
        out += list(zip(edges[:-1], edges[1:]))
        cut += [(k > 0, k < len(edges) - 2) for k in range(len(edges) - 1)]  # (starts at a cut, ends at a cut)
    return np.array(out, dtype=np.float64).reshape(-1, 2), np.array(cut, dtype=bool).reshape(-1, 2)


def candidate_units(pieces: np.ndarray) -> tuple[np.ndarray, dict[tuple[int, int], int]]:
    """(U, 2) spans of every run of 1..MAX_MERGE consecutive pieces that can be one sign, and their index."""
    spans, index = [], {}
    for i in range(len(pieces)):
        for m in range(1, MAX_MERGE + 1):
            j = i + m - 1
            if j >= len(pieces):
                break
            if m > 1 and (pieces[j, 0] - pieces[j - 1, 1] > MAX_GAP_MS or pieces[j, 1] - pieces[i, 0] > MAX_UNIT_MS):
                break
            index[(i, m)] = len(spans)
            spans.append((pieces[i, 0], pieces[j, 1]))
    return np.array(spans, dtype=np.float64).reshape(-1, 2), index


def emissions(probs: np.ndarray, script: Script) -> np.ndarray:
    """(U, W) cost of each script sign on each unit: -log posterior under the script's glosses as the list prior;
    a sign the model has no class for costs -log of the mass outside the script's known glosses."""
    known = sorted({w.gloss for w in script.words if w.gloss is not None})
    post = posterior(probs, known)
    outside = 1.0 - post[:, known].sum(axis=1)
    cols = [post[:, w.gloss] if w.gloss is not None else outside for w in script.words]
    p = np.stack(cols, axis=1) if cols else np.zeros((len(probs), 0))
    return np.minimum(-np.log(np.maximum(p, 1e-12)), MAX_COST), post


def dp(cost: np.ndarray, index: dict[tuple[int, int], int], n_pieces: int,
       cut: np.ndarray | None = None) -> tuple[list[tuple[int, int, int]], float]:
    """Monotonic alignment: list of (slot, first piece, pieces) and the total cost."""
    n_words = cost.shape[1]
    D = np.full((n_pieces + 1, n_words + 1), np.inf)
    back: dict[tuple[int, int], tuple[int, int, int]] = {}
    D[0, 0] = 0.0
    for i in range(n_pieces + 1):
        for j in range(n_words + 1):
            d = D[i, j]
            if not np.isfinite(d):
                continue
            if i < n_pieces and d + INSERT < D[i + 1, j]:
                D[i + 1, j] = d + INSERT
                back[(i + 1, j)] = (i, j, 0)
            if j < n_words and d + SKIP < D[i, j + 1]:
                D[i, j + 1] = d + SKIP
                back[(i, j + 1)] = (i, j, -1)
            if j < n_words:
                for m in range(1, MAX_MERGE + 1):
                    u = index.get((i, m))
                    if u is None:
                        break
                    c = d + cost[u, j] + MERGE * (m - 1)
                    if cut is not None:  # a span that starts or ends inside a segmenter piece
                        c += CUT / 2 * (int(cut[i, 0]) + int(cut[i + m - 1, 1]))
                    if c < D[i + m, j + 1]:
                        D[i + m, j + 1] = c
                        back[(i + m, j + 1)] = (i, j, m)
    path = []
    i, j = n_pieces, n_words
    while (i, j) != (0, 0):
        pi, pj, m = back[(i, j)]
        if m > 0:
            path.append((pj, pi, m))
        i, j = pi, pj
    return path[::-1], float(D[n_pieces, n_words])


def align(frames, core: np.ndarray, cfg, ref, script: Script, classify) -> Alignment:
    """Place ``script`` on one video. ``classify(units_ms) -> (U, L) pooled probabilities``."""
    pieces, cut = atoms(frames, core, cfg, ref)
    units, index = candidate_units(pieces)
    probs = classify(units) if len(units) else np.zeros((0, 1))
    if len(units) == 0 or not script.words:
        return Alignment([], list(range(len(script.words))), [tuple(p) for p in pieces], probs, units,
                         [index[(i, 1)] for i in range(len(pieces))] if len(units) else [])
    cost, post = emissions(probs, script)
    path, _ = dp(cost, index, len(pieces), cut)
    placed, used = [], set()
    for slot, i, m in path:
        u = index[(i, m)]
        used.update(range(i, i + m))
        placed.append(Placement(slot, (float(units[u, 0]), float(units[u, 1])), u, float(cost[u, slot]),
                                _confidence(post, u, slot, script)))
    unplaced = sorted(set(range(len(script.words))) - {p.slot for p in placed})
    extra = [i for i in range(len(pieces)) if i not in used]
    return Alignment(placed, unplaced, [tuple(pieces[i]) for i in extra], probs, units,
                     [index[(i, 1)] for i in extra])


def _confidence(post: np.ndarray, u: int, slot: int, script: Script) -> float:
    """Share of this word among the script words around it, on this span (the outside mass stands for words
    the model has no class for)."""
    lo, hi = max(0, slot - WINDOW), min(len(script.words), slot + WINDOW + 1)
    known = sorted({w.gloss for w in script.words if w.gloss is not None})
    outside = max(0.0, 1.0 - float(post[u, known].sum()))
    seen, total = set(), 0.0
    for w in script.words[lo:hi]:
        key = w.gloss if w.gloss is not None else -1
        if key in seen:
            continue
        seen.add(key)
        total += outside if key == -1 else float(post[u, key])
    g = script.words[slot].gloss
    mine = outside if g is None else float(post[u, g])
    return round(mine / total, 6) if total > 0 else 0.0


def report_spans(cores: list[tuple[float, float]], cfg, end_ms: float, boundary: float | None = None) -> np.ndarray:
    """Reported spans for the final cores (time order), grown into rest time as the segmenter grows its own
    (cores already carry the classifier's margin), meeting at ``BOUNDARY`` of the gap between two signs."""
    if not cores:
        return np.zeros((0, 2))
    frac = BOUNDARY if boundary is None else boundary
    spans = np.array(cores, dtype=np.float64)
    pad = max(0.0, cfg.pad_ms - cfg.classify_pad_ms)
    out = spans.copy()
    for i in range(len(spans)):
        left = 0.0 if i == 0 else spans[i - 1, 1] + frac * (spans[i, 0] - spans[i - 1, 1])
        right = end_ms if i == len(spans) - 1 else spans[i, 1] + frac * (spans[i + 1, 0] - spans[i, 1])
        out[i, 0] = max(spans[i, 0] - pad, left, 0.0)
        out[i, 1] = min(spans[i, 1] + pad, right, end_ms)
    return out
