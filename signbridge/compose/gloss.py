"""Reading gloss labels: one notation-aware parser for the rules grammar and the guard.

Glosses arrive in two conventions (see ``../shared/data/gloss_english/SOURCES.md``):
NCSLGR/ASLLRP (``IX-1p``, ``POSS-3p:i``, ``fs-JOHN``, ``(2h)alt.SEARCH-FOR++``,
``DCL"pet carrier"``) and ASLG-PC12 (``X-I``, ``DESC-NOT``, ``X-POSS``, lemmas in
English order). The recogniser's own labels (``fs-WORD``, ``UNKNOWN``, lowercase
WLASL words) are a subset of both.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from signbridge.compose import lexicon as lx

UNCLEAR = "[unclear sign]"

_TOKEN_RE = re.compile(r'[^\s"]*"[^"]*"[^\s"]*|\S+')
_HAND_PREFIX = re.compile(r"^(\((?:1h|2h|[0-9A-Za-z\-]+)\)(?:alt\.)?)+")
_LOCUS_PREFIX = re.compile(r"^(?:[a-z]|neu):(?=[A-Z#(])")
_LOCUS_SUFFIX = re.compile(r"(?::[a-z](?:/[a-z])?)+$")
_PERSON = re.compile(r"^IX-(1p|2p|3p)(?:-pl)?(-pl)?(?:-[a-z0-9\-]+)?$")
_POSS = re.compile(r"^POSS-(1p|2p|3p)(?:-pl)?(-pl)?(?:-[a-z0-9\-]+)?\+*$")
_SELF = re.compile(r"^SELF-(1p|2p|3p)(?:-pl)?(-pl)?(?:-[a-z0-9\-]+)?$")
_CLASSIFIER = re.compile(r'^(?:DCL|SCL|LCL|ICL|BCL|BPCL|PCL)(?::[^"]*)?(?:"([^"]*)")?$')
_GESTURE = re.compile(r'^[0-9A-Za-z\-]*"([^"]*)"$')

PUNCT = {".", ",", "?", "!", ";", ":"}


@dataclass
class Tok:
    """One gloss read as English material plus the grammatical role the grammar needs."""

    gloss: str
    words: list[str] = field(default_factory=list)
    role: str = "word"  # word verb cl adj adv pron poss self wh time neg modal will finish be have do prep conj det there
    # punct qm unknown name loc num drop
    person: str | None = None  # key into lexicon.PERSONS for pron/poss/self
    tense: str | None = None  # past/future for time words
    attach: bool = False  # glued to the previous word ("'s")
    confidence: float = 1.0

    @property
    def text(self) -> str:
        return " ".join(self.words)


def split_gloss(text: str) -> list[str]:
    """Whitespace tokenisation that keeps quoted descriptions (``DCL"pet carrier"``) whole."""
    return _TOKEN_RE.findall(text.strip())


def _title(word: str) -> str:
    return " ".join(p.capitalize() for p in word.replace("-", " ").split())


def _person_key(p: str, plural: bool) -> str:
    base = {"1p": "1", "2p": "2", "3p": "3"}[p]
    return base + "pl" if plural and base != "3" else ("3pl" if plural else base)


def _strip(label: str) -> str:
    s = unicodedata.normalize("NFC", label.strip())
    for _ in range(3):  # o:(1h)BRING:s has both prefixes, in either order
        s = _LOCUS_PREFIX.sub("", _HAND_PREFIX.sub("", s))
    s = _LOCUS_SUFFIX.sub("", s)
    s = s.rstrip("+").rstrip("-") if not s.endswith("+AGENT") else s
    for suf in ("-arc", "-indef", "-honorific", "wg"):
        if s.endswith(suf) and len(s) > len(suf) + 1:
            s = s[: -len(suf)]
    s = s.rstrip("+")
    s = re.sub(r"_\d+$", "", s)
    s = re.sub(r"_\d+(?=[+:])", "", s)
    return s


def read(label: str, confidence: float = 1.0) -> Tok:
    """Parse one gloss label into a :class:`Tok`.

    Long because it is one ordered table of gloss notations (prefixes, suffixes, markers); splitting it
    would scatter the precedence between them."""
    raw = label.strip()
    t = Tok(gloss=raw, confidence=confidence)
    if not raw:
        t.role = "drop"
        return t
    if raw.upper() == "UNKNOWN":
        t.role, t.words = "unknown", [UNCLEAR]
        return t
    if raw in PUNCT:
        t.role, t.words = ("qm", ["?"]) if raw == "?" else ("punct", [raw])
        return t
    if raw in ("QMwg", "QM", "part:indef", "part:indef+", "PART:INDEF"):
        t.role = "qm" if raw.startswith("QM") else "drop"
        return t
    m = _CLASSIFIER.match(_LOCUS_PREFIX.sub("", _HAND_PREFIX.sub("", raw)))
    if m:
        desc = (m.group(1) or "").strip()
        # a classifier is a predicate in ASL: it stands in for a verb phrase
        t.role, t.words = ("cl", desc.lower().split()) if desc else ("drop", [])
        return t
    m = _GESTURE.match(_HAND_PREFIX.sub("", raw))
    if m:
        g = m.group(1).strip()
        if g.upper() in lx.WH_WORDS:
            t.role, t.words = "wh", lx.WH_WORDS[g.upper()].split()
        else:
            t.role, t.words = ("word", g.lower().split()) if g else ("drop", [])
        return t
    s = _strip(raw)
    # alternatives X/Y: a name sign wins (GOLD/ns-CALIFORNIA), else the first reading
    if "/" in s and not s.startswith(("fs-", "ns-")):
        parts = [p for p in s.split("/") if p]
        names = [p for p in parts if p.startswith(("ns-", "fs-"))]
        s = _strip(names[-1] if names else parts[0]) if parts else s
    if s.startswith(("ns-fs-", "ns-", "fs-")):
        name = s.split("-", 2)[-1] if s.startswith("ns-fs-") else s.split("-", 1)[1]
        name = name.lstrip("#").rstrip("+")
        if not name:
            t.role = "drop"
            return t
        t.role, t.words = "name", [_title(name)]
        return t
    if s.startswith("#"):
        s = s[1:]
    m = _PERSON.match(s)
    if m:
        t.role, t.person = "pron", _person_key(m.group(1), bool(m.group(2)) or "-pl" in s)
        t.words = [lx.PERSONS[t.person][0]]
        return t
    if s.startswith("IX-loc") or s in ("IX", "THERE", "HERE"):
        t.role, t.words = "loc", ["there" if s != "HERE" else "here"]
        return t
    m = _POSS.match(s)
    if m:
        t.role, t.person = "poss", _person_key(m.group(1), bool(m.group(2)) or "-pl" in s)
        t.words = [lx.PERSONS[t.person][2]]
        return t
    m = _SELF.match(s)
    if m:
        t.role, t.person = "self", _person_key(m.group(1), bool(m.group(2)) or "-pl" in s)
        t.words = [lx.PERSONS[t.person][3]]
        return t
    # ASLG-PC12 prefixes
    if s in lx.ASLG_ARTEFACTS_DESC and lx.ASLG_ARTEFACTS_DESC[s] == "there":
        t.role, t.words = "there", ["there"]
        return t
    if s.startswith("X-"):
        return _read_x(t, s)
    if s.startswith("DESC-"):
        body = s[5:]
        if s in lx.ASLG_ARTEFACTS_DESC:
            t.role, t.words = "adv", [lx.ASLG_ARTEFACTS_DESC[s]]
            return t
        if body == "NOT":
            t.role, t.words = "neg", ["not"]
            return t
        word = body.lower()
        t.role = "adv" if (word in lx.ADVERBS or (word.endswith("ly") and len(word) > 4)) else "adj"
        t.words = [word]
        return t
    up = s.upper()
    if up in lx.ASLG_ARTEFACTS_PLAIN and s.isupper():
        t.role, t.words = "word", [lx.ASLG_ARTEFACTS_PLAIN[up]]
        return t
    if up in lx.WH_WORDS:
        t.role, t.words = "wh", lx.WH_WORDS[up].split()
        return t
    if up in ("NOT", "NEVER", "NONE", "NO") or up.startswith("NOT-"):
        t.role = "neg" if up in ("NOT", "NEVER") else "word"
        t.words = lx.GLOSS_WORDS.get(up, up.lower().replace("-", " ")).split()
        return t
    if up == "FINISH":
        t.role, t.words = "finish", ["finish"]
        return t
    if up in ("WILL", "FUTURE", "SHALL", "GONNA", "FUTURE_2"):
        t.role, t.words = "will", ["will"]
        return t
    if up in ("CAN", "MUST", "SHOULD", "WOULD", "COULD", "MAY", "MIGHT", "CANNOT", "CAN'T", "HAVE-TO", "NEED-TO"):
        t.role, t.words = "modal", lx.GLOSS_WORDS.get(up, up.lower().replace("-", " ")).split()
        return t
    if up == "BE":
        t.role, t.words = "be", ["be"]
        return t
    if up == "HAVE":
        t.role, t.words = "have", ["have"]
        return t
    if up == "DO":
        t.role, t.words = "do", ["do"]
        return t
    if up in lx.TIME_WORDS:
        t.role = "time"
        t.tense = "past" if up in lx.TIME_PAST else ("future" if up in lx.TIME_FUTURE else None)
        t.words = lx.GLOSS_WORDS.get(up, up.lower().replace("-", " ")).split()
        t.person = "front" if up in lx.FRONT_TIME else None
        return t
    if up in lx.NUMBERS or s.isdigit():
        t.role, t.words = "num", [lx.NUMBERS.get(up, s)]
        return t
    if s in lx.GLOSS_WORDS or up in lx.GLOSS_WORDS:
        t.words = lx.GLOSS_WORDS.get(s, lx.GLOSS_WORDS.get(up, "")).split()
        first = t.words[0] if t.words else ""
        t.role = "verb" if first in lx.VERBS else "word"
        return t
    if "+" in s:  # compounds and repetition marks that survived: keep the readable parts
        s = s.replace("+", "-")
    words = [w for w in s.lower().replace("-", " ").split() if w]
    if not words:
        t.role = "drop"
        return t
    t.words = words
    t.role = "verb" if words[0] in lx.VERBS else "word"
    if up in lx.PREPOSITIONS_UP:
        t.role = "prep"
    elif up in lx.CONJ_UP:
        t.role = "conj"
    elif up in lx.DET_UP:
        t.role = "det"
    return t


def _read_x(t: Tok, s: str) -> Tok:
    body = s[2:]
    if s in lx.ASLG_ARTEFACTS_X:
        word = lx.ASLG_ARTEFACTS_X[s]
        t.words = [word]
        t.role = {"they": "pron", "them": "pron", "their": "poss", "themselves": "self"}.get(word, "word")
        t.person = "3pl" if t.role != "word" else None
        return t
    if body == "POSS":
        t.role, t.words, t.attach = "word", ["'s"], True
        return t
    pron = {"I": "1", "ME": "1", "YOU": "2", "WE": "1pl", "US": "1pl", "HE": "3s", "SHE": "3s", "IT": "3it",
            "THEY": "3pl", "THEM": "3pl"}
    poss = {"MY": "1", "YOUR": "2", "OUR": "1pl", "HIS": "3s", "HER": "3s", "ITS": "3it", "THEIR": "3pl"}
    refl = {"MYSELF": "1", "YOURSELF": "2", "OURSELVES": "1pl", "HIMSELF": "3s", "HERSELF": "3s", "ITSELF": "3it",
            "YOURSELVES": "2pl"}
    if body in pron:
        t.role, t.person = "pron", pron[body]
        t.words = [body.lower() if body != "I" else "I"]
        if body in ("HE", "SHE"):
            t.words = [body.lower()]
        return t
    if body in poss:
        t.role, t.person, t.words = "poss", poss[body], [body.lower()]
        return t
    if body in refl:
        t.role, t.person, t.words = "self", refl[body], [body.lower()]
        return t
    t.role, t.words = "word", [body.lower()]
    return t


def content_words(labels: list[str]) -> set[str]:
    """Lower-case English words a sentence built from these glosses may contain (guard vocabulary)."""
    out: set[str] = set()
    for lab in labels:
        tok = read(lab)
        for w in tok.words:
            for part in re.split(r"[\s\-/']+", w.lower()):
                if part:
                    out.add(part)
        if tok.person:
            p = lx.PERSONS.get(tok.person) or lx.PERSONS.get("3")
            out.update(x.lower() for x in p[:4])
        raw = re.sub(r"^(?:ns-fs-|ns-|fs-|desc-|x-|ix-|poss-|self-)", "", _strip(lab).lower())
        out.update(p for p in re.split(r"[^\w]+", raw) if p and not re.fullmatch(r"\d+p", p))
    return out
