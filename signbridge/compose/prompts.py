"""Few-shot prompt shared by the LLM backends (local SmolLM2 and vLLM).

The prompt carries the glosses with their confidences and the rules draft: a
small model then only has to smooth grammar, and a large one has the structure
the grammar found. Changing anything here must bump PROMPT_VERSION (it is part
of the cache key and of every transcript).
"""
from __future__ import annotations

from typing import Sequence

from signbridge.compose.gloss import UNCLEAR

PROMPT_VERSION = "p1"

SYSTEM = (
    "You turn American Sign Language (ASL) glosses into one short, plain English sentence. "
    "Use only the meaning of the glosses: never add people, places, numbers or facts they do not contain. "
    "You may add grammar words (the, a, is, to, of, do, will). "
    f"Keep every {UNCLEAR} exactly as written. Reply with the sentence only."
)

EXAMPLES: list[tuple[str, str, str]] = [
    ("YESTERDAY IX-1p GO STORE", "Yesterday I went to the store.", "Yesterday I went to the store."),
    ("IX-2p NAME WHAT", "What is your name?", "What is your name?"),
    ("BOOK IX-1p LIKE", "I like book.", "I like the book."),
    ("fs-JOHN FUTURE BUY CAR UNKNOWN", f"John will buy car {UNCLEAR}.", f"John will buy a car {UNCLEAR}."),
]


def format_glosses(labels: Sequence[str], confidences: Sequence[float] | None = None) -> str:
    """Glosses with a confidence only where it is below 0.99 (uncertain signs stand out)."""
    confidences = confidences or [1.0] * len(labels)
    out = []
    for lab, c in zip(labels, confidences):
        lab = UNCLEAR if lab.strip().upper() == "UNKNOWN" else lab
        out.append(lab if c >= 0.99 or lab == UNCLEAR else f"{lab}({c:.2f})")
    return " ".join(out)


def user_message(labels: Sequence[str], confidences: Sequence[float] | None, draft: str) -> str:
    return f"Glosses: {format_glosses(labels, confidences)}\nDraft: {draft}\nEnglish:"


def messages(labels: Sequence[str], confidences: Sequence[float] | None, draft: str) -> list[dict[str, str]]:
    """Chat messages: system, few-shot turns, then the query."""
    msgs = [{"role": "system", "content": SYSTEM}]
    for g, d, e in EXAMPLES:
        msgs.append({"role": "user", "content": f"Glosses: {g}\nDraft: {d}\nEnglish:"})
        msgs.append({"role": "assistant", "content": e})
    msgs.append({"role": "user", "content": user_message(labels, confidences, draft)})
    return msgs


def clean_output(text: str) -> str:
    """First non-empty line, without labels or quotes a model sometimes adds."""
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        for prefix in ("English:", "Sentence:", "Answer:", "Translation:"):
            if line.lower().startswith(prefix.lower()):
                line = line[len(prefix):].strip()
        return line.strip('"').strip("'").strip()
    return ""
