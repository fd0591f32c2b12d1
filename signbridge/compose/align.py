"""Which sign each word of a sentence comes from, by lemma.

Captions use it to time each cue to the signs it shows; the faithfulness checks
use it to find a sign that the English dropped. It works on any backend's
output (rules or LLM) because it only compares word lemmas with gloss lemmas;
words no sign spells (articles, copula, "to") belong to the sign of the next
content word, since English function words lead their head.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from signbridge.compose import lexicon as lx
from signbridge.compose.gloss import UNCLEAR, content_words

_UNCLEAR_RE = re.escape(UNCLEAR)


def tokens(text: str, marker: str = "") -> list[str]:
    """Whitespace tokens, keeping ``[unclear sign]`` and the low-confidence marker whole with their word."""
    alts = [_UNCLEAR_RE] + ([re.escape(marker)] if marker and marker.strip() else [])
    pattern = r"\S*(?:" + "|".join(alts) + r")(?:\S*(?:" + "|".join(alts) + r"))*\S*|\S+"
    return re.findall(pattern, text)


@lru_cache(maxsize=4096)
def sign_forms(label: str) -> frozenset[str]:
    """Lower-case word forms (with lemmas) that show this gloss in English; UNKNOWN shows as the marker."""
    if label.strip().upper() == "UNKNOWN":
        return frozenset({UNCLEAR})
    out: set[str] = set()
    for w in content_words([label]):
        out |= lx.lemma_candidates(w)
    return frozenset(w for w in out if re.search(r"\w", w))


def word_forms(token: str, marker: str = "") -> frozenset[str]:
    """Lemma candidates of one output token (punctuation and the low-confidence marker removed)."""
    if UNCLEAR in token:
        return frozenset({UNCLEAR})
    core = _core(token, marker)
    out: set[str] = set()
    for part in {core, *re.split(r"[^\w']+", core)} - {""}:
        out |= lx.lemma_candidates(part)
    return frozenset(out)


def _core(token: str, marker: str) -> str:
    core = token.replace(marker, "") if marker else token
    return re.sub(r"^[^\w']+|[^\w']+$", "", core).strip("'").lower()


def align(toks: Sequence[str], labels: Sequence[str], marker: str = "") -> list[int] | None:
    """For each token, the index (into ``labels``) of the sign it comes from; None if no token matches a sign.

    Content words take the earliest unused matching sign at or after the previous
    one (so repeated words follow the signing order); other words take the sign
    of the next content word, or of the previous one at the end of the sentence.
    """
    forms = [sign_forms(lab) for lab in labels]
    src: list[int | None] = []
    used: set[int] = set()
    last = 0
    for t in toks:
        wf = word_forms(t, marker)
        cands = [j for j, f in enumerate(forms) if wf & f] if wf else []
        if _core(t, marker) in lx.FUNCTION_WORDS:  # "I", "to", "not": only a sign no other word showed
            cands = [j for j in cands if j not in used]
        pick = _pick(cands, used, last)
        if pick is not None:
            used.add(pick)
            last = pick
        src.append(pick)
    if all(s is None for s in src):
        return None
    out: list[int] = []
    nxt: int | None = None
    for s in reversed(src):  # function words take the sign of the next content word
        nxt = s if s is not None else nxt
        out.append(nxt if nxt is not None else -1)
    out.reverse()
    prev = next(s for s in src if s is not None)
    for i, s in enumerate(out):  # trailing function words take the last content word's sign
        if s == -1:
            out[i] = prev
        else:
            prev = s
    return out


def _pick(cands: list[int], used: set[int], last: int) -> int | None:
    if not cands:
        return None
    fresh = [j for j in cands if j not in used]
    ahead = [j for j in fresh if j >= last]
    if ahead:
        return ahead[0]
    if last in cands:  # one sign, several words (NICE-MEET-YOU -> nice to meet you)
        return last
    if fresh:
        return min(fresh, key=lambda j: abs(j - last))
    return min(cands, key=lambda j: abs(j - last))
