"""SRT and WebVTT captions from a transcript, following common caption guidelines.

At most 42 characters a line and 2 lines a cue, 1-7 s on screen, at most 17
characters per second, lines broken at phrase boundaries. When signing is
faster than 17 cps allows, a cue borrows time from the pause after it; cues
never overlap and no text is dropped (so with no pause to borrow the reading
rate can exceed 17 cps: dropping words would misquote the signer).
Words from low-confidence signs carry ``settings.low_confidence_marker``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from signbridge.records import GlossTrack, Sentence, Transcript
from signbridge.settings import Settings

MAX_LINE = 42
MAX_LINES = 2
MIN_MS = 1000.0
MAX_MS = 7000.0
MAX_CPS = 17.0
GAP_MS = 40.0  # a frame or so between consecutive cues, so players never show two at once

_BREAK_BEFORE = frozenset("and but or so because if when while that which who where than then to of for with "
                          "from in on at by after before until".split())


@dataclass
class Cue:
    start_ms: float
    end_ms: float
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def chars(self) -> int:
        return sum(len(line) for line in self.lines) + max(0, len(self.lines) - 1)


# ---------------------------------------------------------------- low-confidence marking

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
        if sentence.uncertain and "[unclear sign]" not in text:
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
    words = text.split(" ")
    for forms in targets:
        for j, w in enumerate(words):
            if marker in w:
                continue
            core = re.sub(r"[^\w']", "", w)
            if core and ({_stem(core)} | {_stem(x) for x in lemma_candidates(core)}) & forms:
                m = re.match(r"^(.*?)([.,?!;:]*)$", w)
                words[j] = m.group(1) + marker + m.group(2)
                break
    return " ".join(words)


# ---------------------------------------------------------------- text layout

def _hard_wrap(words: list[str]) -> list[str]:
    """Words longer than a caption line (a long fingerspelled word, unspaced text) are cut."""
    out = []
    for w in words:
        while len(w) > MAX_LINE:
            out.append(w[:MAX_LINE])
            w = w[MAX_LINE:]
        if w:
            out.append(w)
    return out


def _boundary_penalty(words: list[str], k: int) -> int:
    """Cost of breaking before words[k] (0 = a phrase boundary)."""
    prev, nxt = words[k - 1], words[k]
    if prev[-1:] in ",.;:?!":
        return 0
    if nxt.lower() in _BREAK_BEFORE:
        return 1
    return 3


def break_lines(text: str) -> list[str] | None:
    """One or two lines of at most MAX_LINE chars, broken at the best phrase boundary; None if it cannot fit."""
    words = _hard_wrap(text.split())
    joined = " ".join(words)
    if len(joined) <= MAX_LINE:
        return [joined] if joined else []
    best = None
    for k in range(1, len(words)):
        a, b = " ".join(words[:k]), " ".join(words[k:])
        if len(a) > MAX_LINE or len(b) > MAX_LINE:
            continue
        score = _boundary_penalty(words, k) * 12 + abs(len(a) - len(b)) / 4
        if best is None or score < best[0]:
            best = (score, [a, b])
    return best[1] if best else None


def split_cues_text(text: str) -> list[list[str]]:
    """Cut a sentence into cue texts (each 1-2 lines), preferring phrase boundaries."""
    words = _hard_wrap(text.split())
    chunks: list[list[str]] = []
    i = 0
    while i < len(words):
        j = i + 1
        while j <= len(words) and break_lines(" ".join(words[i:j])) is not None:
            j += 1
        end = j - 1  # words[i:end] is the longest that fits
        if end < len(words):
            # back off to a phrase boundary if one is in the second half of the chunk
            cands = [k for k in range(i + 1, end) if _boundary_penalty(words, k) < 3 and k - i >= (end - i) // 2]
            if cands:
                end = max(cands, key=lambda k: (-_boundary_penalty(words, k), k))
        end = max(end, i + 1)
        chunks.append(break_lines(" ".join(words[i:end])) or [" ".join(words[i:end])[:MAX_LINE]])
        i = end
    return chunks


# ---------------------------------------------------------------- timing

def caption_cues(transcript: Transcript, settings: Settings, *, track: GlossTrack | None = None,
                 duration_ms: float | None = None) -> list[Cue]:
    """Timed cues for every sentence; empty for a transcript with no signing."""
    sentences = sorted(transcript.sentences, key=lambda s: s.start_ms)
    limit = duration_ms if duration_ms is not None else float("inf")
    raw: list[Cue] = []
    for idx, s in enumerate(sentences):
        chunks = split_cues_text(mark_low_confidence(s, settings, track))
        if not chunks:
            continue
        # reading time of each cue; a sentence signed faster than that borrows the pause after it
        reading = [min(MAX_MS, max(MIN_MS, 1000.0 * len("\n".join(c)) / MAX_CPS)) for c in chunks]
        gaps = GAP_MS * (len(chunks) - 1)
        need = sum(reading) + gaps
        nxt = sentences[idx + 1].start_ms if idx + 1 < len(sentences) else limit
        window_end = max(s.end_ms, min(s.start_ms + need, nxt - GAP_MS))
        window = max(window_end - s.start_ms - gaps, 1.0)
        t = s.start_ms
        for c, r in zip(chunks, reading):
            share = window * r / sum(reading)
            raw.append(Cue(start_ms=t, end_ms=t + share, lines=c))
            t += share + GAP_MS
    # each cue stays up >= 1 s (pushing a crowded next cue a little later) and, where the pause after it
    # allows, long enough to read at 17 cps; never more than 7 s, never overlapping, never past the video end
    cues: list[Cue] = []
    for k, cue in enumerate(raw):
        prev_end = cues[-1].end_ms + GAP_MS if cues else 0.0
        start = max(cue.start_ms, prev_end)
        nxt_start = raw[k + 1].start_ms if k + 1 < len(raw) else limit
        reading = max(MIN_MS, 1000.0 * cue.chars / MAX_CPS, cue.end_ms - cue.start_ms)
        avail = nxt_start - GAP_MS - start
        dur = min(MAX_MS, max(MIN_MS, min(reading, avail)))
        if start + dur > limit:  # at the end of the video: pull the cue earlier rather than cut it
            start = max(prev_end, limit - dur)
            dur = max(1.0, min(dur, limit - start))
        cues.append(Cue(start_ms=start, end_ms=start + dur, lines=cue.lines))
    return cues


def _ts(ms: float, sep: str) -> str:
    ms = max(0, int(round(ms)))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cues_to_srt(cues: Sequence[Cue]) -> str:
    blocks = [f"{i}\n{_ts(c.start_ms, ',')} --> {_ts(c.end_ms, ',')}\n{c.text}\n" for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def _vtt_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cues_to_vtt(cues: Sequence[Cue]) -> str:
    out = ["WEBVTT", ""]
    for c in cues:
        out += [f"{_ts(c.start_ms, '.')} --> {_ts(c.end_ms, '.')}", _vtt_escape(c.text), ""]
    return "\n".join(out)


def to_srt(transcript: Transcript, settings: Settings, *, track: GlossTrack | None = None,
           duration_ms: float | None = None) -> str:
    """SRT text ('' when nothing was signed). Pass the gloss track to mark low-confidence words precisely."""
    return cues_to_srt(caption_cues(transcript, settings, track=track, duration_ms=duration_ms))


def to_vtt(transcript: Transcript, settings: Settings, *, track: GlossTrack | None = None,
           duration_ms: float | None = None) -> str:
    """WebVTT text (just the header when nothing was signed)."""
    return cues_to_vtt(caption_cues(transcript, settings, track=track, duration_ms=duration_ms))
