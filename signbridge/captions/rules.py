"""The caption rules, checked on cues as a viewer gets them (e.g. read back from a written .srt).

Shared by the tests and the caption-quality report. Each cue's signs are found
again from its words (``compose.align``), so a check never trusts the timing
code it checks. Rules (tolerance ``TOL_MS`` for rounding to whole milliseconds):

- timing: a cue starts when its first sign starts (later only while the cue
  before it of the same sentence is still being read, at most ``MAX_LAG_MS``),
  never before; it stays until its last sign ends (unless the next cue starts)
  and no longer than its signs and its reading time need (1 s at least); a
  later cue never shows a word of an earlier sign than the cue before it;
  cues never overlap and stay inside the video;
- duration: at most 7 s on screen;
- length: 1-2 lines of at most 42 characters;
- cps: at most 17 characters a second, unless the cue already runs until the
  next cue, the 7 s limit or the video's end (no pause left to extend into);
- split_marker: ``[unclear sign]`` and the low-confidence marker are whole on
  one line of one cue;
- text: the cues show every word of every sentence, in order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from signbridge.captions.cues import GAP_MS, MAX_CPS, MAX_LAG_MS, MAX_MS, MIN_MS, Cue, reading_ms
from signbridge.captions.layout import MAX_LINE
from signbridge.captions.marking import mark_low_confidence
from signbridge.compose.align import align, tokens
from signbridge.compose.gloss import UNCLEAR
from signbridge.records import UNKNOWN, GlossTrack, Transcript
from signbridge.settings import Settings

RULES = ("timing", "duration", "length", "cps", "split_marker", "text")
TOL_MS = 2.0


@dataclass
class CueCheck:
    """Which rules each cue breaks (cue index -> reasons), and the cues over 17 cps with no room to extend."""

    cues: int = 0
    broken: dict[int, list[str]] = field(default_factory=dict)
    fast_no_room: int = 0

    def add(self, i: int, rule: str, detail: str) -> None:
        self.broken.setdefault(i, []).append(f"{rule}: {detail}")

    def count(self, rule: str) -> int:
        return sum(1 for reasons in self.broken.values() if any(r.startswith(rule + ":") for r in reasons))

    @property
    def ok(self) -> bool:
        return not self.broken


def _words_of(cue: Cue, marker: str) -> list[str]:
    return tokens(" ".join(cue.lines), marker)


def check_cues(cues: Sequence[Cue], transcript: Transcript, settings: Settings, *, track: GlossTrack | None = None,
               duration_ms: float | None = None) -> CueCheck:
    """Check ``cues`` (times and lines only are used) against the transcript and its gloss track."""
    marker = settings.low_confidence_marker
    out = CueCheck(cues=len(cues))
    limit = duration_ms if duration_ms is not None else float("inf")
    windows = _sign_windows(cues, transcript, settings, track, out)
    for i, c in enumerate(cues):
        dur = c.end_ms - c.start_ms
        if dur > MAX_MS + TOL_MS:
            out.add(i, "duration", f"{dur:.0f} ms on screen")
        if not 1 <= len(c.lines) <= 2 or any(not line or len(line) > MAX_LINE for line in c.lines):
            out.add(i, "length", f"{len(c.lines)} line(s) of {[len(x) for x in c.lines]} characters")
        for line in c.lines:
            for m in (UNCLEAR, marker):
                if m and m.strip() and _split(line, m):
                    out.add(i, "split_marker", f"{line!r}")
        nxt = cues[i + 1].start_ms if i + 1 < len(cues) else float("inf")
        room = min(nxt - GAP_MS, c.start_ms + MAX_MS, limit)
        cps = c.chars / max(dur / 1000.0, 1e-3)
        if c.chars / max((dur + TOL_MS) / 1000.0, 1e-3) > MAX_CPS:  # times are written in whole milliseconds
            if c.end_ms < room - TOL_MS:
                out.add(i, "cps", f"{cps:.1f} characters/s with {room - c.end_ms:.0f} ms free after it")
            else:
                out.fast_no_room += 1
        if i and c.start_ms < cues[i - 1].end_ms - TOL_MS:
            out.add(i, "timing", "overlaps the cue before it")
        if c.end_ms > limit + TOL_MS or dur <= 0:
            out.add(i, "timing", "ends after the video or has no duration")
        if windows[i] is not None:
            _check_window(out, i, c, cues, windows[i], room, _words_of(c, marker))
    return out


def _split(line: str, m: str) -> bool:
    """A part of the marker on this line without the whole of it (``[unclear`` / ``sign]``)."""
    parts = [p for p in m.split() if len(p) > 1] or [m]
    whole = line.count(m)
    return any(line.count(p) > whole for p in parts) if len(parts) > 1 else False


def _check_window(out: CueCheck, i: int, c: Cue, cues: Sequence[Cue], w: tuple[float, float, int, int],
                  room: float, words: list[str]) -> None:
    first, last, lo_idx, _ = w
    prev_end = cues[i - 1].end_ms + GAP_MS if i else 0.0
    if c.start_ms < first - TOL_MS:
        out.add(i, "timing", f"shown {first - c.start_ms:.0f} ms before its first sign")
    if c.start_ms > max(first, prev_end) + TOL_MS or c.start_ms > first + MAX_LAG_MS + TOL_MS:
        out.add(i, "timing", f"starts {c.start_ms - first:.0f} ms after its first sign")
    hold = max(last, c.start_ms + MIN_MS, c.start_ms + reading_ms(c.chars))
    if c.end_ms > hold + TOL_MS:
        out.add(i, "timing", f"stays {c.end_ms - hold:.0f} ms after its signs and reading time")
    if c.end_ms < min(max(last, c.start_ms + MIN_MS), room) - TOL_MS:
        out.add(i, "timing", f"leaves {min(last, room) - c.end_ms:.0f} ms before its last sign ends")


def _sign_windows(cues: Sequence[Cue], transcript: Transcript, settings: Settings, track: GlossTrack | None,
                  out: CueCheck) -> list[tuple[float, float, int, int] | None]:
    """For each cue, (first sign start, last sign end, lowest and highest sign index) of the words it shows."""
    marker = settings.low_confidence_marker
    sentences = sorted(transcript.sentences, key=lambda s: s.start_ms)
    owner: list[tuple[int, int] | None] = []  # per shown token: (sentence, sign index in the track)
    expected: list[str] = []
    for si, s in enumerate(sentences):
        toks = tokens(mark_low_confidence(s, settings, track), marker)
        spans = [i for i in s.span_indices if track is not None and i < len(track.spans)]
        labels = [UNKNOWN if track.spans[i].kind == "unknown" else track.spans[i].label for i in spans] if spans else []
        src = align(toks, labels, marker) if spans else None
        expected += toks
        if src is None and spans:  # no word traced to a sign: the sentence shows from its first sign
            src = [0] * len(toks)
        owner += [(si, spans[j]) for j in src] if src is not None else [None] * len(toks)
    shown = [w for c in cues for w in _words_of(c, marker)]
    if "".join(shown) != "".join(expected):
        out.add(0 if cues else -1, "text", "the cues do not show the sentences' words in order")
        return [None] * len(cues)
    # hard-wrapped words are several cue tokens: walk characters, not tokens
    char_owner: list[tuple[int, int] | None] = []
    for t, o in zip(expected, owner):
        char_owner += [o] * len(t)
    res: list[tuple[float, float, int, int] | None] = []
    pos = 0
    prev_hi = -1
    for i, c in enumerate(cues):
        n = sum(len(w) for w in _words_of(c, marker))
        got = {o for o in char_owner[pos:pos + n] if o is not None}
        pos += n
        if not got or track is None:
            res.append(None)
            continue
        idx = sorted(j for _, j in got)
        if idx[0] < prev_hi:
            out.add(i, "timing", "shows a sign signed before a sign of the cue before it")
        prev_hi = max(prev_hi, idx[-1])
        res.append((min(track.spans[j].start_ms for j in idx), max(track.spans[j].end_ms for j in idx), idx[0],
                    idx[-1]))
    return res
