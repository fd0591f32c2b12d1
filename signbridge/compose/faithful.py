"""Is a sentence faithful to its signs? The rules every backend's English must keep.

- dropped: every plainly shown sign (not UNKNOWN, confidence at or above the
  low-confidence threshold, a content sign rather than a grammar marker) appears
  in the English, by lemma;
- added: no content word that no sign of the group spells (nothing is made up
  for an UNKNOWN or uncertain span beyond the marker);
- unclear: one ``[unclear sign]`` per UNKNOWN span, no more, no fewer;
- tense: past tense only with a confident FINISH or past time sign, "will" only
  with a WILL sign or a confident future time sign.

The guard replaces an LLM sentence that breaks one of them with the rules
draft; the caption-quality report counts them for every backend.
"""
from __future__ import annotations

import re
from typing import Sequence

from signbridge.compose import lexicon as lx
from signbridge.compose.align import sign_forms, tokens, word_forms
from signbridge.compose.gloss import UNCLEAR, content_words, read

RULES = ("dropped", "added", "unclear", "tense")

# roles whose sign must show up as a word (grammar markers such as FINISH, WILL, BE are shown by inflection)
_CONTENT_ROLES = frozenset("word verb cl adj adv pron poss self wh time neg modal name num".split())
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+", re.UNICODE)
_PAST_AUX = frozenset({"was", "were", "did", "had"})
_PERFECT = frozenset("have has had having be is am are was were been being get got".split())


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text.replace(UNCLEAR, " "))]


def confident(confidence: float, low: float) -> bool:
    return confidence >= low


def violations(text: str, labels: Sequence[str], confidences: Sequence[float] | None = None,
               low: float = 0.6) -> list[str]:
    """Broken rules as ``"rule: detail"`` strings; empty when the sentence is faithful."""
    confs = list(confidences) if confidences is not None else [1.0] * len(labels)
    out: list[str] = []
    toks = [read(lab, c) for lab, c in zip(labels, confs)]
    n_unknown = sum(1 for t in toks if t.role == "unknown")
    if text.count(UNCLEAR) != n_unknown:
        out.append(f"unclear: {n_unknown} UNKNOWN sign(s) but {text.count(UNCLEAR)} '{UNCLEAR}' marker(s)")
    shown: set[str] = set()
    for tk in tokens(text):
        shown |= word_forms(tk)
    missing = [lab for lab, t, c in zip(labels, toks, confs)
               if t.role in _CONTENT_ROLES and not t.attach and confident(c, low) and sign_forms(lab)
               and not sign_forms(lab) & shown and not (t.role == "poss" and "'s" in text)]
    if missing:
        out.append("dropped: " + ", ".join(dict.fromkeys(missing)))
    allowed: set[str] = set()
    signed = [lab for lab in labels if lab.strip().upper() != "UNKNOWN"]
    for w in content_words(signed) | {w.lower() for t in toks for w in t.words}:
        for part in {w, *_WORD.findall(w)}:
            allowed |= lx.lemma_candidates(part)
    added = [w for w in _words(text) if not w.isdigit() and w not in lx.FUNCTION_WORDS
             and not lx.lemma_candidates(w) & allowed]
    added += [w for w in _words(text) if w.isdigit() and w not in allowed]
    if added:
        out.append("added: " + ", ".join(dict.fromkeys(added)))
    out += _tense(text, toks, confs, low, allowed)
    return out


def _tense(text: str, toks, confs: Sequence[float], low: float, allowed: set[str]) -> list[str]:
    past_ok = any(confident(c, low) and (t.role == "finish" or (t.role == "time" and t.tense == "past"))
                  for t, c in zip(toks, confs))
    future_ok = any(t.role == "will" or (t.role == "time" and t.tense == "future" and confident(c, low))
                    for t, c in zip(toks, confs))
    has_finish = any(t.role == "finish" for t in toks)
    glossed = {w.lower() for t in toks for w in t.words}
    words = _words(text)
    out: list[str] = []
    if not past_ok:
        past = [w for i, w in enumerate(words) if _is_past(w, words[max(0, i - 3):i], glossed, has_finish)]
        if past:
            out.append(f"tense: past {', '.join(dict.fromkeys(past))} without a confident FINISH or past time sign")
    if not future_ok and ("will" in words or any(w.endswith("'ll") for w in words)):
        out.append("tense: 'will' without a WILL sign or a confident future time sign")
    return out


def _is_past(w: str, before: list[str], glossed: set[str], has_finish: bool) -> bool:
    """A finite past form the grammar or an LLM added (not a participle, not the gloss's own word)."""
    if w in glossed or _PERFECT & set(before):
        return False
    if w in _PAST_AUX:
        return True
    if w == "finished" and has_finish:
        return False  # FINISH alone means "finished": the sign's own word
    for base in lx.lemma_candidates(w) - {w}:
        if (base in lx.VERBS or base in lx.IRREGULAR) and lx.past(base) == w:
            return True
    return False
