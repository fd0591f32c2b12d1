"""Caption text layout: at most 42 characters a line, 2 lines a cue, broken at phrase boundaries.

Text is handled as tokens (``compose.align.tokens``), so ``[unclear sign]`` and
the low-confidence marker are never split across lines or cues.
"""
from __future__ import annotations

from signbridge.compose.align import tokens

MAX_LINE = 42
MAX_CHARS = 2 * MAX_LINE + 1  # two full lines and the line break

_BREAK_BEFORE = frozenset("and but or so because if when while that which who where than then to of for with "
                          "from in on at by after before until".split())


def split_tokens(text: str, marker: str = "") -> list[str]:
    """Tokens of ``text``, words longer than a line (a long fingerspelled run, unspaced text) cut to fit."""
    out = []
    for w in tokens(text, marker):
        while len(w) > MAX_LINE:
            out.append(w[:MAX_LINE])
            w = w[MAX_LINE:]
        if w:
            out.append(w)
    return out


def boundary_penalty(words: list[str], k: int) -> int:
    """Cost of breaking before words[k] (0 = a phrase boundary)."""
    prev, nxt = words[k - 1], words[k]
    if prev[-1:] in ",.;:?!":
        return 0
    if nxt.lower() in _BREAK_BEFORE:
        return 1
    return 3


def lay_out(words: list[str]) -> list[str] | None:
    """One or two lines of at most MAX_LINE chars from these tokens; None if they cannot fit."""
    joined = " ".join(words)
    if len(joined) <= MAX_LINE:
        return [joined] if joined else []
    if len(joined) > MAX_CHARS:
        return None
    best = None
    for k in range(1, len(words)):
        a, b = " ".join(words[:k]), " ".join(words[k:])
        if len(a) > MAX_LINE or len(b) > MAX_LINE:
            continue
        score = boundary_penalty(words, k) * 12 + abs(len(a) - len(b)) / 4
        if best is None or score < best[0]:
            best = (score, [a, b])
    return best[1] if best else None


def break_lines(text: str, marker: str = "") -> list[str] | None:
    """One or two lines of at most MAX_LINE chars, broken at the best phrase boundary; None if it cannot fit."""
    return lay_out(split_tokens(text, marker))
