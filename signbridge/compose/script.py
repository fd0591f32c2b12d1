"""Transcripts of scripted videos: the script's own text, timed to the signs it was aligned to.

No language model and no grammar: the user wrote the text, so the captions show it as written. In ``words``
mode each placed word is one caption; in ``sentences`` mode a sentence runs from its first placed sign to its
last. A sentence none of whose signs was placed is not captioned (the gloss track lists the unplaced words).
"""
from __future__ import annotations

from signbridge.records import GlossTrack, Sentence, Transcript

SCRIPT_MODEL = "script"
SCRIPT_VERSION = "s1"


def is_scripted(track: GlossTrack) -> bool:
    return bool(track.hints and track.hints.get("alignment"))


def script_transcript(track: GlossTrack) -> Transcript:
    al = track.hints["alignment"]
    words = al.get("words", [])
    by_sentence: dict[int, list[int]] = {}
    for i, s in enumerate(track.spans):
        if s.script_index is None or s.script_index >= len(words):
            continue
        by_sentence.setdefault(int(words[s.script_index]["sentence"]), []).append(i)
    sentences = []
    for k, idx in sorted(by_sentence.items()):
        spans = [track.spans[i] for i in idx]
        text = al["sentences"][k] if al.get("mode") == "sentences" else (spans[0].script_word or spans[0].label)
        conf = min(float(s.alignment_confidence or 0.0) for s in spans)
        sentences.append(Sentence(start_ms=float(min(s.start_ms for s in spans)), end_ms=float(max(s.end_ms for s in spans)),
                                  text=text, span_indices=idx, confidence=round(conf, 4), uncertain=False,
                                  glosses=[s.label for s in spans]))
    sentences.sort(key=lambda s: s.start_ms)
    return Transcript(source_uri=track.source_uri, sha256=track.sha256, backend="script", model=SCRIPT_MODEL,
                      prompt_version=SCRIPT_VERSION, sentences=sentences)
