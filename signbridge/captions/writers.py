"""SRT and WebVTT text from cues, and cues read back from it (for checks on written files)."""
from __future__ import annotations

import html
import re
from typing import Sequence

from signbridge.captions.cues import Cue, caption_cues
from signbridge.records import GlossTrack, Transcript
from signbridge.settings import Settings

_TIME = re.compile(r"(?:(\d+):)?(\d{2}):(\d{2})[,.](\d{3})\s+-->\s+(?:(\d+):)?(\d{2}):(\d{2})[,.](\d{3})")


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
    """SRT text ('' when nothing was signed). Pass the gloss track to time cues to the signs and mark words."""
    return cues_to_srt(caption_cues(transcript, settings, track=track, duration_ms=duration_ms))


def to_vtt(transcript: Transcript, settings: Settings, *, track: GlossTrack | None = None,
           duration_ms: float | None = None) -> str:
    """WebVTT text (just the header when nothing was signed)."""
    return cues_to_vtt(caption_cues(transcript, settings, track=track, duration_ms=duration_ms))


def _ms(h: str | None, m: str, s: str, ms: str) -> float:
    return float(int(h or 0) * 3_600_000 + int(m) * 60_000 + int(s) * 1000 + int(ms))


def parse_cues(text: str) -> list[Cue]:
    """Cues (times and lines) of an SRT or WebVTT document, as a player reads them."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        for k, line in enumerate(lines):
            m = _TIME.search(line)
            if m:
                g = m.groups()
                body = [html.unescape(x) for x in lines[k + 1:]]
                cues.append(Cue(_ms(*g[:4]), _ms(*g[4:]), body))
                break
    return cues
