"""Rules backend: an ASL-gloss -> English grammar. Instant, deterministic, and the fallback of every LLM backend.

It only rearranges and inflects what the glosses say and adds closed-class glue
(articles, copula, do-support, pronoun case, "to" after motion verbs); it never
adds content words, so its output is also what the hallucination guard trusts.
"""
from __future__ import annotations

import re

from signbridge.compose import lexicon as lx
from signbridge.compose.gloss import UNCLEAR, Tok, read

_OBJ = {"I": "me", "he": "him", "she": "her", "we": "us", "they": "them"}
_NOUNISH = ("word", "name", "num")
_FINITE = ("verb", "modal", "will", "be", "have", "do", "cl", "finish")


def _agree(tok: Tok | None) -> str:
    """Agreement class of a subject: '1s', '2', 'pl' or '3s'."""
    if tok is None or tok.role != "pron":
        return "3s"
    w = tok.words[0]
    return {"I": "1s", "you": "2", "we": "pl", "they": "pl"}.get(w, "3s")


def _be(kind: str, tense: str | None) -> str:
    if tense == "past":
        return "was" if kind in ("1s", "3s") else "were"
    return {"1s": "am", "2": "are", "pl": "are"}.get(kind, "is")


def _subject(toks: list[Tok], i: int) -> Tok | None:
    """The subject right before position i (skipping adverbs/negation), if there is one."""
    for j in range(i - 1, -1, -1):
        r = toks[j].role
        if r in ("adv", "neg", "modal", "will", "time"):
            continue
        if r in ("pron", "name", "there") or r in _NOUNISH:
            return toks[j]
        return None
    return None


def _is_question(toks: list[Tok]) -> bool:
    if any(t.role == "qm" for t in toks):
        return True
    body = [t for t in toks if t.role not in ("drop",)]
    if not body:
        return False
    if body[-1].gloss in (".", "!"):
        return False
    # a WH-sign at either edge asks; one in the middle is usually a relative ("what you said")
    return body[0].role == "wh" or body[-1].role == "wh"


def _reorder(toks: list[Tok], question: bool) -> list[Tok]:
    """ASL word order -> English word order."""
    toks = [t for t in toks if t.role not in ("drop", "qm")]
    out: list[Tok] = []
    for t in toks:  # repetition (SUMMON SUMMON) is aspect, not two events
        if out and t.gloss == out[-1].gloss and t.role not in ("punct", "unknown"):
            continue
        out.append(t)
    toks = out
    prons = [i for i, t in enumerate(toks) if t.role == "pron"]
    # sentence-final pronoun copy (IX-1p LIKE IX-1p): drop the copy
    if len(prons) >= 2 and prons[-1] == len(toks) - 1 and toks[prons[0]].words == toks[-1].words:
        toks = toks[:-1]
    # verbless clause with the subject last (DEAF IX-1p): subject first, the copula follows later
    elif (prons and prons[-1] == len(toks) - 1 and len(toks) > 1
          and not any(t.role in _FINITE or t.role in ("wh", "punct") for t in toks)):
        toks = [toks[-1]] + toks[:-1]
    # time words head the sentence (TOMORROW, YESTERDAY ...)
    times = [t for t in toks if t.role == "time" and t.person == "front"]
    if times and toks[0] is not times[0]:
        toks = times + [t for t in toks if t not in times]
    # WH-word to the front of a question (ASL often puts it last: IX-2p NAME WHAT)
    if question:
        whs = [i for i, t in enumerate(toks) if t.role == "wh"]
        if whs and whs[0] != 0:
            wh = toks[whs[-1]]
            rest = [t for t in toks if t is not wh]  # a second WH-sign stays: dropping it drops a sign
            lead = [t for t in rest[:1] if t.role == "time"]
            toks = lead + [wh] + rest[len(lead):]
        # subject-auxiliary inversion: HOW-MANY BOOK JOHN WILL BUY -> how many book will John buy
        if toks and toks[0].role == "wh":
            for k in range(2, len(toks)):
                if toks[k].role in ("will", "modal") and toks[k - 1].role in ("pron", "name") and k - 1 > 0:
                    toks[k - 1], toks[k] = toks[k], toks[k - 1]
                    break
    # topic-comment: TOPIC-NP SUBJ-PRON VERB  ->  SUBJ-PRON VERB TOPIC-NP
    for i, t in enumerate(toks):
        if t.role == "pron":
            head, tail = toks[:i], toks[i + 1:]
            if (head and tail and all(h.role in ("word", "name", "adj", "num", "poss") for h in head)
                    and tail[0].role in ("verb", "modal", "will", "neg")
                    and all(x.role in ("verb", "modal", "will", "neg", "adv") for x in tail)):
                toks = [t] + tail + head
            break
    return toks


def _possessives(toks: list[Tok]) -> list[Tok]:
    out: list[Tok] = []
    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        after = toks[i + 2] if i + 2 < len(toks) else None
        # fs-JOHN POSS-3p CAR -> John's car
        if t.role == "poss" and t.person in ("3", "3pl") and out and out[-1].role == "name":
            out.append(Tok(gloss=t.gloss, words=["'s"], role="word", attach=True))
            continue
        # IX-2p NAME WHAT / X-WE CITIZEN SEE -> your name / our citizens
        if (t.role == "pron" and t.person and nxt is not None and nxt.role == "word"
                and ((after is not None and after.role in ("verb", "wh"))
                     or (after is None and any(x.role == "wh" for x in toks)))):
            p = lx.PERSONS.get(t.person)
            if p:
                out.append(Tok(gloss=t.gloss, words=[p[2]], role="poss", person=t.person, confidence=t.confidence))
                continue
        out.append(t)
    return out


def compose_rules(labels: list[str], confidences: list[float] | None = None, *, articles: bool = True,
                  low: float = 0.6) -> str:
    """English sentence for one group of gloss labels (UNKNOWN -> ``[unclear sign]``).

    Tense comes only from markers signed with confidence ``low`` or more: a misread FINISH must not
    turn "go" into "went". Long because the grammar is one pass over the tokens whose steps share
    state (subject, tense, negation)."""
    confidences = list(confidences) if confidences is not None else [1.0] * len(labels)
    toks = [read(lab, c) for lab, c in zip(labels, confidences)]
    if not toks:
        return ""
    question = _is_question(toks)
    toks = _possessives(_reorder(toks, question))
    sure = [t for t in toks if t.confidence >= low]
    tense = None
    if any(t.role == "finish" or (t.role == "time" and t.tense == "past") for t in sure):
        tense = "past"
    elif any(t.role == "will" or (t.role == "time" and t.tense == "future") for t in sure):
        tense = "future"
    has_finite = any(t.role in _FINITE for t in toks)
    will_pending = tense == "future" and not any(t.role == "will" for t in toks)
    words: list[str] = []
    finite_done = False  # the first verb of a clause carries tense and agreement
    prev: Tok | None = None

    def emit(*ws: str) -> None:
        words.extend(w for w in ws if w)

    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        r = t.role
        subj = _subject(toks, i)
        if r == "punct":
            if not (t.gloss in (".", "!", "?") and i == len(toks) - 1):
                emit(t.gloss)
            finite_done = False if t.gloss in (",", ";", ":") else finite_done
        elif r == "conj":
            emit(*t.words)
            finite_done = False
        elif r == "finish":
            # FINISH marks completed action; alone at the end it is the verb "finished"
            if nxt is None and not any(x.role == "verb" for x in toks):
                emit("finished")
                finite_done = True
        elif r == "will":
            if not finite_done:
                emit("will")
                finite_done = True
        elif r == "neg":
            if t.words == ["not"] and not finite_done and subj is not None and nxt is not None and nxt.role == "verb":
                aux = {"past": "did", "future": "will"}.get(tense or "", "does" if _agree(subj) == "3s" else "do")
                emit(aux, "not")
                finite_done = True
            else:
                emit(*t.words)
        elif r == "be":
            pw = words[-1] if words else ""
            if (prev and prev.role in ("modal", "will")) or pw == "to":
                emit("be")
            elif prev and prev.role == "have":
                emit("been")
            else:
                emit(_be(_agree(subj), tense))
            finite_done = True
        elif r == "have":
            pw = words[-1] if words else ""
            if (prev and prev.role in ("modal", "will")) or pw == "to":
                emit("have")
            elif tense == "past" and not finite_done:
                emit("had")
            else:
                emit("has" if subj is not None and _agree(subj) == "3s" else "have")
            finite_done = True
        elif r == "do":
            if not finite_done and nxt is not None and nxt.role == "neg" and subj is not None:
                emit("did" if tense == "past" else ("does" if _agree(subj) == "3s" else "do"))
            else:
                emit("do")
            finite_done = True
        elif r == "verb":
            base, rest = t.words[0], t.words[1:]
            aux = _governing(toks, i, words)
            if aux in ("have", "be"):
                form = lx.participle(base)
            elif aux in ("modal", "will", "do", "to"):
                form = base
            elif aux == "prep":
                form = lx.gerund(base)
            elif not finite_done and will_pending:
                emit("will")
                will_pending = False
                form = base
            elif not finite_done and tense == "past":
                form = lx.past(base)
            elif not finite_done and subj is not None and subj.role == "pron" and _agree(subj) == "3s":
                form = lx.third_person(base)
            else:
                form = base
            emit(form, *rest)
            if base in lx.MOTION_VERBS and not rest and nxt is not None and nxt.role in ("word", "name") \
                    and nxt.words and nxt.words[0] not in ("home", "there", "here", "away"):
                emit("to")
            finite_done = True
        elif r == "pron":
            w = t.words[0]
            if prev is not None and (prev.role in ("verb", "prep", "cl") or (words and words[-1] == "to")) and finite_done:
                w = _OBJ.get(w, w)
            emit(w)
            # a verbless clause needs a copula: IX-1p TIRED -> I am tired
            if (not has_finite and not question and nxt is not None
                    and nxt.role in ("adj", "word", "loc", "name", "num", "neg") and _clause_has_no_verb(toks, i)):
                emit(_be(_agree(t), tense))
                has_finite = finite_done = True
        elif r == "wh" and question and not words and not has_finite and nxt is not None and nxt.role not in ("verb",):
            # WHAT IX-2p NAME -> what is your name
            emit(*t.words, _be(_agree(nxt) if nxt.role == "pron" else "3s", tense))
            has_finite = finite_done = True
        elif t.attach and words:
            words[-1] += t.words[0]
        elif r == "unknown":
            emit(UNCLEAR)
        else:
            if (articles and r == "word" and words and words[-1] in lx.PREPOSITIONS
                    and t.words and t.words[0] not in lx.FUNCTION_WORDS and t.words[0] not in lx.PROPER_NOUNS):
                emit("the")
            emit(*t.words)
        prev = t
    text = _tidy(" ".join(words))
    if not text:
        return ""
    if text[-1] not in ".?!":
        text += "?" if question else "."
    return text if text.startswith(UNCLEAR) else text[0].upper() + text[1:]


def _governing(toks: list[Tok], i: int, words: list[str]) -> str | None:
    """What governs the verb at i: an auxiliary, "to", a preposition, or nothing."""
    for j in range(i - 1, -1, -1):
        t = toks[j]
        if t.role in ("adv", "neg"):
            continue
        if t.role in ("have", "be", "modal", "will", "do"):
            return t.role
        if t.role == "prep":
            return "to" if t.words == ["to"] else "prep"
        return None
    return None


def _clause_has_no_verb(toks: list[Tok], i: int) -> bool:
    for t in toks[i + 1:]:
        if t.role in ("punct", "conj"):
            break
        if t.role in _FINITE:
            return False
    return True


def _tidy(text: str) -> str:
    for p in (",", ".", "?", "!", ";", ":"):
        text = text.replace(f" {p}", p)
    text = text.replace(" 's", "'s")
    text = re.sub(r"\bi\b", "I", text)  # the pronoun, wherever it falls (a plain I gloss reads as "i")
    text = re.sub(r"\b[a-z]+\b", lambda m: lx.PROPER_NOUNS.get(m.group(0), m.group(0)), text)  # China, Monday
    while "  " in text:
        text = text.replace("  ", " ")
    return text.strip().strip(",").strip()
