"""Timed caption cues that follow the signing.

Each word of a sentence is traced to the sign it comes from (``compose.align``)
and takes its share of that sign's time. A sentence is cut into cues only
where every earlier word's sign ends before every later word's sign starts (a
span boundary), preferring few cues, phrase boundaries and cues whose signs
last at most a few seconds. A cue starts when its first sign starts and stays
until its last sign ends and it can be read (1 s at least, 17 characters a
second), extended into the pause before the next cue but never past it, never
longer than 7 s, never past the video's end. A sentence signed faster than it
can be read may hold a cue a little longer and start its next cue later, but
never more than 3 s after that cue's first sign. Words are never dropped, so
with no pause left the reading rate can exceed 17 cps. Without the gloss track
a sentence's words share its time evenly and may borrow all of its pause.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from signbridge.captions.layout import MAX_LINE, boundary_penalty, lay_out, split_tokens
from signbridge.captions.marking import mark_low_confidence
from signbridge.compose.align import align, tokens
from signbridge.records import UNKNOWN, GlossTrack, Sentence, Transcript
from signbridge.settings import Settings

MIN_MS = 1000.0
MAX_MS = 7000.0
MAX_CPS = 17.0
GAP_MS = 40.0  # a frame or so between consecutive cues, so players never show two at once
MAX_LAG_MS = 3000.0  # a cue starts at most this long after its first sign (while the one before is read)
TARGET_SIGN_MS = 3500.0  # a cue whose signs last longer is split at a span boundary where one fits

_TAIL_MS = 200.0  # what each cue left at the video's end keeps, at least, when 1 s each no longer fits
_BAD = 1e6  # a cut that is not at a span boundary, or a cue whose signs last longer than MAX_MS: last resort


@dataclass
class Cue:
    start_ms: float
    end_ms: float
    lines: list[str]
    sign_start_ms: float = 0.0  # when the first sign the cue shows starts
    sign_end_ms: float = 0.0  # when the last one ends
    sentences: tuple[int, ...] = ()  # indices (in time order) of the sentences whose words it shows

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def chars(self) -> int:
        return _chars(self.lines)


def reading_ms(chars: int) -> float:
    return 1000.0 * chars / MAX_CPS


def token_times(sentence: Sentence, text: str, marker: str,
                track: GlossTrack | None) -> tuple[list[str], list[tuple[float, float]]]:
    """Caption tokens of a sentence and the slice of signing time each one shows."""
    toks = tokens(text, marker)
    spans = [track.spans[i] for i in sentence.span_indices if i < len(track.spans)] if track is not None else []
    src = align(toks, [UNKNOWN if sp.kind == "unknown" else sp.label for sp in spans], marker) if spans else None
    windows = [(float(sp.start_ms), float(sp.end_ms)) for sp in spans]
    if src is None:  # no track, or no word traced to a sign: the words share the sentence's time
        windows, src = [(float(sentence.start_ms), float(sentence.end_ms))], [0] * len(toks)
    pieces: list[str] = []
    owner: list[int] = []
    for t, j in zip(toks, src):
        for p in split_tokens(t, marker):
            pieces.append(p)
            owner.append(j)
    times = [(0.0, 0.0)] * len(pieces)
    for j, (a, b) in enumerate(windows):  # a sign's time is shared by its words in proportion to their length
        mine = [k for k, o in enumerate(owner) if o == j]
        total = sum(len(pieces[k]) + 1 for k in mine)
        t = a
        for k in mine:
            d = (b - a) * (len(pieces[k]) + 1) / total
            times[k] = (t, t + d)
            t += d
    return pieces, times


def plan_chunks(words: Sequence[str], times: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """Cut a sentence's tokens into cue-sized runs [i, j) (dynamic programming over the cut points)."""
    return _plan(words, times)[0]


def fits_in_cues(sentence: Sentence, text: str, track: GlossTrack, marker: str = "") -> bool:
    """Whether ``text`` can be shown in cues cut only at span boundaries, none showing signs of more than 7 s.

    Composition asks this of every sentence: one that cannot (a WH-sign moved to the front of a long
    question) is composed again as two shorter sentences.
    """
    words, times = token_times(sentence, text, marker, track)
    return not words or _plan(words, times)[1] < _BAD


def _plan(words: Sequence[str], times: Sequence[tuple[float, float]]) -> tuple[list[tuple[int, int]], float]:
    n = len(words)
    pre_end = [float("-inf")] * (n + 1)
    for k in range(1, n + 1):
        pre_end[k] = max(pre_end[k - 1], times[k - 1][1])
    suf_start = [float("inf")] * (n + 1)
    for k in range(n - 1, -1, -1):
        suf_start[k] = min(suf_start[k + 1], times[k][0])
    best = [float("inf")] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] == float("inf"):
            continue
        cut = 0.0
        if i:  # a phrase boundary is cheaper; a cut that is not at a span boundary is a last resort
            cut = 12.0 * boundary_penalty(list(words), i) + (0 if pre_end[i] <= suf_start[i] + 1 else _BAD)
        lo, hi = float("inf"), float("-inf")
        for j in range(i + 1, n + 1):
            lo, hi = min(lo, times[j - 1][0]), max(hi, times[j - 1][1])
            if lay_out(list(words[i:j])) is None:
                break
            cost = best[i] + cut + 100.0 + max(0.0, hi - lo - TARGET_SIGN_MS) * 0.06
            if hi - lo > MAX_MS:
                cost += _BAD
            if (i > 0 or j < n) and (hi - lo < MIN_MS or sum(len(w) + 1 for w in words[i:j]) < 16):
                cost += 60.0  # a cue too short to read comfortably
            if cost < best[j]:
                best[j], back[j] = cost, i
    out = []
    j = n
    while j > 0:
        out.append((back[j], j))
        j = back[j]
    return out[::-1], best[n]


@dataclass
class _Piece:
    words: list[str]
    sign_start_ms: float
    sign_end_ms: float
    sentences: tuple[int, ...]
    traced: bool = True  # times from the signs, not shared out over the sentence (no gloss track)


def _pieces(sentences: Sequence[Sentence], settings: Settings, track: GlossTrack | None) -> list[_Piece]:
    marker = settings.low_confidence_marker
    out: list[_Piece] = []
    for idx, s in enumerate(sentences):
        words, times = token_times(s, mark_low_confidence(s, settings, track), marker, track)
        traced = track is not None and any(i < len(track.spans) for i in s.span_indices)
        for i, j in plan_chunks(words, times) if words else []:
            out.append(_Piece(words[i:j], min(a for a, _ in times[i:j]), max(b for _, b in times[i:j]), (idx,),
                              traced))
    return _merge_short(out)


def _merge_short(pieces: list[_Piece]) -> list[_Piece]:
    """Join a cue that would be on screen for less than MIN_MS with the next one, where both fit in one."""
    out: list[_Piece] = []
    for p in pieces:
        last = out[-1] if out else None
        if (last is not None and p.sign_start_ms - last.sign_start_ms < MIN_MS
                and p.sign_end_ms - last.sign_start_ms <= MAX_MS and lay_out(last.words + p.words) is not None):
            out[-1] = _Piece(last.words + p.words, last.sign_start_ms, max(last.sign_end_ms, p.sign_end_ms),
                             tuple(dict.fromkeys(last.sentences + p.sentences)), last.traced and p.traced)
        else:
            out.append(p)
    return out


def caption_cues(transcript: Transcript, settings: Settings, *, track: GlossTrack | None = None,
                 duration_ms: float | None = None) -> list[Cue]:
    """Timed cues for every sentence; empty for a transcript with no signing."""
    sentences = sorted(transcript.sentences, key=lambda s: s.start_ms)
    limit = duration_ms if duration_ms is not None else float("inf")
    pieces = _pieces(sentences, settings, track)
    latest = _latest_ends(pieces, limit)
    cues: list[Cue] = []
    for k, p in enumerate(pieces):
        prev_end = cues[-1].end_ms + GAP_MS if cues else 0.0
        start = max(p.sign_start_ms, prev_end)
        nxt = pieces[k + 1] if k + 1 < len(pieces) else None
        bound = nxt.sign_start_ms - GAP_MS if nxt is not None else float("inf")
        # the next cue's latest start; without the gloss track its "sign" times are only estimates
        push = nxt.sign_start_ms + MAX_LAG_MS - GAP_MS if nxt is not None and nxt.traced else float("inf")
        if nxt is not None and nxt.sentences[0] == p.sentences[-1]:
            bound = max(bound, min(latest[k], push))  # a sentence signed faster than it reads borrows its own pause
        lines = lay_out(p.words) or [" ".join(p.words)[:MAX_LINE]]
        hold = max(p.sign_end_ms, start + MIN_MS, start + reading_ms(_chars(lines)))
        # >= 1 s even if the next cue waits, unless the cues after it would no longer fit before the video's end
        floor = min(start + MIN_MS, limit - (len(pieces) - 1 - k) * (GAP_MS + _TAIL_MS), push)
        end = min(hold, start + MAX_MS, max(bound, floor), limit)
        if end <= start:  # signs at or past the video's end: the cue takes the last moment it can
            start = max(prev_end, min(start, limit - MIN_MS))
            end = max(start + 1.0, min(limit, start + MIN_MS))
        cues.append(Cue(start, end, lines, p.sign_start_ms, p.sign_end_ms, p.sentences))
    return cues


def _chars(lines: list[str]) -> int:
    return sum(len(line) for line in lines) + max(0, len(lines) - 1)


def _latest_ends(pieces: Sequence[_Piece], limit: float) -> list[float]:
    """How late each cue may end so that the rest of its sentence can still be read before the next one."""
    latest = [0.0] * len(pieces)
    after = limit
    for k in range(len(pieces) - 1, -1, -1):
        p, nxt = pieces[k], pieces[k + 1] if k + 1 < len(pieces) else None
        if nxt is None or nxt.sentences[0] != p.sentences[-1]:
            after = nxt.sign_start_ms - GAP_MS if nxt is not None else limit
            latest[k] = after
        else:
            need = max(MIN_MS, reading_ms(len(" ".join(nxt.words))))
            latest[k] = max(nxt.sign_start_ms, min(latest[k + 1] - need, latest[k + 1])) - GAP_MS
    return latest
