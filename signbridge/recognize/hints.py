"""What the user already knows about a video: a word list (vocabulary hint) or the script signed, in order.

Both are plain UTF-8 text. A word list has one word or gloss per line (``#`` starts a comment). A script is
either one word per line (a dictionary or lesson recording: every line is one sign) or English sentences
(an interpreter's script, a transcript: only the words that name a sign the model knows are placed; the
captions show the sentences as written). English words reach the model's glosses through spelling variants
(``lexicon.lemma_candidates``: plurals, tenses) and the same-sign groups (``mom`` -> the MOTHER sign).

Parsing is separate from loading so the CLI, the DAG and the tests read files the same way and a bad file
is named with what to do, never a UnicodeDecodeError from deep inside.
"""
from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Sequence

from signbridge.errors import InputError

MAX_HINT_BYTES = 1_000_000
VOCAB_SIDECAR = ".vocab.txt"
SCRIPT_SIDECAR = ".script.txt"
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def decode_text(data: bytes, source: str, what: str) -> str:
    """UTF-8 text of a hint file, or one clear error naming it (binary files, other encodings, too big)."""
    hint = f"give a UTF-8 text file with one word per line ({what})"
    if len(data) > MAX_HINT_BYTES:
        raise InputError(f"the {what} is {len(data):,} bytes; a word list or script is at most "
                         f"{MAX_HINT_BYTES:,}", source=source, hint=hint)
    if b"\x00" in data:
        raise InputError(f"the {what} is a binary file, not text", source=source, hint=hint)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"the {what} is not UTF-8 text (byte {e.start} cannot be decoded)", source=source,
                         hint=f"save it as UTF-8 ({hint})") from None
    return text


def entries(text: str) -> list[str]:
    """Non-empty lines without ``#`` comments, whitespace collapsed."""
    out = []
    for line in text.splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if line:
            out.append(line)
    return out


class Lexicon:
    """English words and glosses -> the model's gloss indices (same-sign groups resolved to their word)."""

    def __init__(self, labels: Sequence[str], rep: Sequence[int] | None = None):
        self.labels = list(labels)
        rep = list(range(len(self.labels))) if rep is None else [int(r) for r in rep] + \
            list(range(len(rep), len(self.labels)))
        self.index: dict[str, int] = {}
        for i, lab in enumerate(self.labels):
            self.index.setdefault(self._norm(lab), rep[i])
        self.max_words = max((len(k.split()) for k in self.index), default=1)

    @staticmethod
    def _norm(s: str) -> str:
        s = s.lower().replace("_", " ").replace("’", "'")
        if s.startswith("fs-"):
            return s
        return " ".join(w.strip(".,;:!?\"()[]") for w in s.split() if w.strip(".,;:!?\"()[]"))

    def lookup(self, word: str) -> int | None:
        """The gloss index a word or gloss names, or None."""
        w = self._norm(word)
        if not w:
            return None
        if w in self.index:
            return self.index[w]
        if " " not in w:
            from signbridge.compose.lexicon import lemma_candidates

            for cand in sorted(lemma_candidates(w), key=lambda c: (-len(c), c)):
                if cand in self.index:
                    return self.index[cand]
        return None

    def closest(self, word: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(self._norm(word), list(self.index), n=n, cutoff=0.6)

    def tokens(self, sentence: str) -> list[tuple[str, int | None]]:
        """A sentence's words, greedily joined into the longest gloss they name (``thank you``, ``ice cream``)."""
        words = _WORD.findall(sentence)
        out, i = [], 0
        while i < len(words):
            for n in range(min(self.max_words, len(words) - i), 0, -1):
                phrase = " ".join(words[i:i + n])
                g = self.lookup(phrase) if n == 1 else self.index.get(self._norm(phrase))
                if g is not None or n == 1:
                    out.append((phrase, g))
                    i += n
                    break
        return out


@dataclass
class Vocabulary:
    """A word list resolved against a model: the glosses recognition may choose from."""

    source: str
    words: list[str]
    glosses: list[int]  # model label indices (same-sign representatives), unique, in list order
    matched: dict[str, str] = field(default_factory=dict)  # list entry -> model label
    unmatched: list[str] = field(default_factory=list)
    sha256: str = ""

    def summary(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "words": len(self.words),
                "matched": len(self.matched), "glosses": len(self.glosses), "unmatched": list(self.unmatched)}


def parse_vocabulary(text: str, source: str, lexicon: Lexicon) -> Vocabulary:
    """A word list against the model's vocabulary; an error only when it is empty or nothing matches."""
    words = entries(text)
    if not words:
        raise InputError("the word list is empty (no words after removing blank lines and # comments)",
                         source=source, hint="put one word or gloss per line, or leave out --vocabulary")
    glosses: list[int] = []
    matched: dict[str, str] = {}
    unmatched: list[str] = []
    for w in words:
        g = lexicon.lookup(w)
        if g is None:
            unmatched.append(w)
            continue
        matched[w] = lexicon.labels[g]
        if g not in glosses:
            glosses.append(g)
    if not glosses:
        raise InputError(f"none of the word list's {len(words)} words is a sign the model knows",
                         source=source, hint=_closest_hint(lexicon, unmatched))
    return Vocabulary(source, words, glosses, matched, unmatched, hashlib.sha256(text.encode()).hexdigest())


def _closest_hint(lexicon: Lexicon, words: list[str]) -> str:
    near = sorted({c for w in words[:20] for c in lexicon.closest(w)})
    return ("closest known words: " + ", ".join(near[:10]) if near else
            "see `signbridge vocab list` for the glosses it knows")


@dataclass
class ScriptWord:
    """One sign the script says is made: its text, its gloss (None: not in the model's vocabulary) and its line."""

    text: str
    gloss: int | None
    sentence: int


@dataclass
class Script:
    """A script resolved against a model. ``mode``: ``words`` (every line one sign) or ``sentences``."""

    source: str
    mode: str
    sentences: list[str]
    words: list[ScriptWord]  # the signs to place, in order
    not_signs: int = 0  # sentence words that name no known sign (articles, names): captioned, never placed
    sha256: str = ""

    def summary(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "mode": self.mode, "sentences": len(self.sentences),
                "signs": len(self.words), "known_signs": sum(w.gloss is not None for w in self.words),
                "words_not_signs": self.not_signs}


def parse_script(text: str, source: str, lexicon: Lexicon) -> Script:
    lines = entries(text)
    if not lines:
        raise InputError("the script is empty (no lines after removing blank lines and # comments)",
                         source=source, hint="put the words signed in order, one per line, or the English sentences")
    sentence_mode = any(len(_WORD.findall(ln)) > 3 or ln.rstrip()[-1:] in ".!?" for ln in lines)
    sha = hashlib.sha256(text.encode()).hexdigest()
    if not sentence_mode:
        words = [ScriptWord(ln, lexicon.lookup(ln), i) for i, ln in enumerate(lines)]
        if not any(w.gloss is not None for w in words):
            raise InputError(f"none of the script's {len(lines)} words is a sign the model knows, so it cannot be "
                             "aligned", source=source, hint=_closest_hint(lexicon, lines))
        return Script(source, "words", lines, words, 0, sha)
    sentences = [s.strip() for ln in lines for s in _SENTENCE_END.split(ln) if s.strip()]
    words, other = [], 0
    for i, s in enumerate(sentences):
        for tok, g in lexicon.tokens(s):
            if g is None:
                other += 1
            else:
                words.append(ScriptWord(tok, g, i))
    if not words:
        raise InputError(f"no word of the script's {len(sentences)} sentences names a sign the model knows, so it "
                         "cannot be aligned", source=source,
                         hint="give the glosses signed, one per line, or use --vocabulary")
    return Script(source, "sentences", sentences, words, other, sha)


def sidecar_names(video_name: str, suffix: str) -> list[str]:
    """Sidecar file names for a video, most specific first: ``lesson.vocab.txt``, ``lesson.mp4.vocab.txt``."""
    stem = video_name.rsplit(".", 1)[0] if "." in video_name else video_name
    return [stem + suffix, video_name + suffix]


@dataclass
class Hints:
    """What is known of one video: a word list, a script, or neither (plain open-vocabulary recognition)."""

    vocabulary: Vocabulary | None = None
    script: Script | None = None

    def summary(self) -> dict:
        out = {}
        if self.vocabulary:
            out["vocabulary"] = self.vocabulary.summary()
        if self.script:
            out["script"] = self.script.summary()
        return out


@dataclass
class HintTexts:
    """Hint files as read (text + where from), before a model resolves them; small, JSON-able, travels in a
    video's state between tasks."""

    vocabulary: tuple[str, str] | None = None  # (source, text)
    script: tuple[str, str] | None = None

    def to_dict(self) -> dict:
        return {k: {"source": v[0], "text": v[1]} for k, v in (("vocabulary", self.vocabulary),
                                                               ("script", self.script)) if v}

    @classmethod
    def from_dict(cls, d: dict | None) -> "HintTexts | None":
        if not d:
            return None
        get = lambda k: (d[k]["source"], d[k]["text"]) if d.get(k) else None  # noqa: E731
        return cls(get("vocabulary"), get("script"))

    def digest(self) -> str:
        """What changes the outputs: the texts, not where they came from."""
        h = hashlib.sha256()
        for k, v in (("vocabulary", self.vocabulary), ("script", self.script)):
            if v:
                h.update(f"{k}\0{v[1]}\0".encode())
        return h.hexdigest()

    def resolve(self, lexicon: Lexicon) -> Hints:
        return Hints(parse_vocabulary(self.vocabulary[1], self.vocabulary[0], lexicon) if self.vocabulary else None,
                     parse_script(self.script[1], self.script[0], lexicon) if self.script else None)


def read_hint(uri: str, settings, what: str) -> tuple[str, str]:
    """(source, text) of a hint file: a local path or an ``s3://`` object."""
    if uri.startswith("s3://"):
        from signbridge.storage import open_store
        from signbridge.storage.s3 import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        data = open_store(f"s3://{bucket}", settings).get_bytes(key)
    else:
        from pathlib import Path

        p = Path(uri).expanduser()
        if not p.is_file():
            raise InputError(f"the {what} file does not exist" if not p.exists() else f"the {what} is not a file",
                             source=uri, hint=f"check the path given for the {what}")
        data = p.read_bytes()
    return uri, decode_text(data, uri, what)


def hint_texts(vocabulary: str | None, script: str | None, settings) -> HintTexts | None:
    """The run-wide hint files (``--vocabulary``, ``--script``), read once."""
    if not vocabulary and not script:
        return None
    return HintTexts(read_hint(vocabulary, settings, "word list") if vocabulary else None,
                     read_hint(script, settings, "script") if script else None)


def lexicon_for(rec) -> Lexicon:
    """The lexicon of a loaded :class:`~signbridge.recognize.checkpoint.Recognizer` (few-shot glosses included)."""
    return Lexicon(rec.labels, list(rec.same_signs))


def describe(hints: dict) -> str:
    """One line for the run summary: which list or script was used and how much of it was used."""
    parts = []
    v = hints.get("vocabulary")
    if v:
        miss = v.get("unmatched") or []
        parts.append(f"word list {v['source'].rsplit('/', 1)[-1]}: {v['matched']} of {v['words']} words matched"
                     + (f" (not known: {', '.join(miss[:8])}{', ...' if len(miss) > 8 else ''})" if miss else ""))
    s = hints.get("script")
    if s:
        al = hints.get("alignment") or {}
        unplaced = al.get("unplaced") or []
        parts.append(f"script {s['source'].rsplit('/', 1)[-1]}: {al.get('placed', 0)} of {s['signs']} signs placed"
                     + (f"; not placed: {', '.join(u['word'] for u in unplaced[:8])}"
                        f"{', ...' if len(unplaced) > 8 else ''}" if unplaced else ""))
    return "; ".join(parts)
