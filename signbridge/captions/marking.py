"""Low-confidence marks: the marker after each word that comes from a sign the recogniser doubts."""
from __future__ import annotations

import re

from signbridge.compose.align import tokens
from signbridge.compose.gloss import UNCLEAR
from signbridge.records import GlossTrack, Sentence
from signbridge.settings import Settings


def _stem(w: str) -> str:
    w = re.sub(r"[^\w]", "", w.lower())
    for suf in ("ing", "ed", "es", "s"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return w[: -len(suf)]
    return w


def mark_low_confidence(sentence: Sentence, settings: Settings, track: GlossTrack | None = None) -> str:
    """Sentence text with the marker after words that come from low-confidence signs.

    With the gloss track, each low-confidence span's words are found in the text;
    without it, an uncertain sentence with no ``[unclear sign]`` gets the marker at its end.
    """
    marker = settings.low_confidence_marker
    text = sentence.text
    if not marker:
        return text
    if track is None:
        if sentence.uncertain and UNCLEAR not in text:
            return text[:-1] + marker + text[-1] if text and text[-1] in ".?!" else text + marker
        return text
    from signbridge.compose.gloss import read
    from signbridge.compose.lexicon import lemma_candidates

    targets: list[set[str]] = []
    for i in sentence.span_indices:
        if i >= len(track.spans):
            continue
        sp = track.spans[i]
        # a calibrated tier decides; tracks from before tiers fall back to the confidence setting
        if sp.kind == "unknown" or (sp.tier == "plain" if sp.tier else sp.confidence >= settings.low_confidence):
            continue
        for w in read(sp.label).words:
            for part in w.split():
                targets.append({_stem(part)} | {_stem(x) for x in lemma_candidates(part)})
    if not targets:
        return text
    words = tokens(text)  # "[unclear sign]" is one token: never marked inside
    for forms in targets:
        for j, w in enumerate(words):
            if marker in w or UNCLEAR in w:
                continue
            core = re.sub(r"[^\w']", "", w)
            if core and ({_stem(core)} | {_stem(x) for x in lemma_candidates(core)}) & forms:
                m = re.match(r"^(.*?)([.,?!;:]*)$", w)
                words[j] = m.group(1) + marker + m.group(2)
                break
    return " ".join(words)
