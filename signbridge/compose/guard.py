"""Hallucination guard: an LLM sentence may only say what the glosses support.

Every word of the output must be a closed-class function word, a word the
glosses spell (after inflection), or a word of the rules draft (which is built
only from the glosses). Numbers must be signed. Every ``[unclear sign]`` must
survive. The sentence must also keep the faithfulness rules (``faithful.py``:
no dropped confident sign, tense only from confident markers). A sentence that
fails is replaced by the rules sentence for its group.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from signbridge.compose import lexicon as lx
from signbridge.compose.faithful import violations
from signbridge.compose.gloss import UNCLEAR, content_words

# echoed gloss notation: DESC-NEW, X-I, IX-1p, POSS-3p:i, fs-JOHN, DCL"..."
_NOTATION = re.compile(r"\b(?:DESC|X|IX|POSS|SELF|fs|ns|[DSLIBP]CL|BPCL)-\S*|\b[A-Z]+-[A-Z0-9]\S*|\b[A-Za-z]+:[A-Za-z]|\w+\"")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+", re.UNICODE)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text.replace(UNCLEAR, " "))]


def check(text: str, labels: Sequence[str], draft: str, confidences: Sequence[float] | None = None,
          low: float = 0.6) -> Verdict:
    if not text or not (_words(text) or UNCLEAR in text):
        return Verdict(False, "empty output")
    n_unknown = sum(1 for lab in labels if lab.strip().upper() == "UNKNOWN")
    if text.count(UNCLEAR) != n_unknown:
        return Verdict(False, f"expected {n_unknown} '{UNCLEAR}' marker(s), got {text.count(UNCLEAR)}")
    notation = _NOTATION.findall(text)
    if notation:
        return Verdict(False, "gloss notation in the output: " + ", ".join(notation[:3]))
    if len(text) > 3 * max(len(draft), 20) + 40:
        return Verdict(False, "output much longer than the glosses support")
    allowed = content_words(list(labels)) | set(_words(draft))
    allowed_lemmas = set()
    for w in allowed:
        allowed_lemmas |= lx.lemma_candidates(w)
    bad = []
    for w in _words(text):
        if w.isdigit():
            if w not in allowed:
                bad.append(w)
            continue
        if w in lx.FUNCTION_WORDS or w in allowed:
            continue
        if lx.lemma_candidates(w) & (allowed | allowed_lemmas):
            continue
        bad.append(w)
    if bad:
        return Verdict(False, "unsupported word(s): " + ", ".join(sorted(set(bad))[:5]))
    broken = violations(text, labels, confidences, low)
    return Verdict(False, "; ".join(broken)) if broken else Verdict(True)
