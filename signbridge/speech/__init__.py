"""Narration: one voice track, as long as the video, each sentence spoken from its caption cue.

A sentence starts at its first cue and is over within 1 s of the end of its
signing: sped up to 1.3x if needed, then spoken cue by cue (each part from its
own cue) if it still does not fit, and only then cut with a short fade.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from signbridge.records import GlossTrack, Transcript
from signbridge.settings import Settings
from signbridge.speech.timeline import MAX_SPEED, OVERRUN_MS, Placement, plan

log = logging.getLogger(__name__)

__all__ = ["narrate", "narrate_detailed", "spoken_text", "NarrationResult", "Placement", "plan", "MAX_SPEED",
           "OVERRUN_MS"]


def spoken_text(text: str) -> str:
    """What the voice says: the unclear-sign marker is read out, so listeners know a sign was missed."""
    return text.replace("[unclear sign]", "unclear sign,").replace(",.", ".").replace(",?", "?").strip()


@dataclass
class NarrationResult:
    path: Path
    sample_rate: int
    duration_ms: float
    placements: list[Placement] = field(default_factory=list)
    backend: str = ""
    voice: str = ""
    synth_seconds: float = 0.0  # time spent in the TTS engine (for real-time factors)
    speech_ms: float = 0.0  # total natural length of the synthesised sentences


@dataclass
class _Piece:
    sentence: int
    part: int
    start_ms: float
    deadline_ms: float
    text: str
    clip: np.ndarray | None = None


def _pieces(transcript: Transcript, settings: Settings, track: GlossTrack | None,
            duration_ms: float) -> tuple[list[_Piece], dict[int, list[_Piece]]]:
    """One piece per sentence (from its first cue) and, per sentence, its cue-sized parts (if it has several)."""
    from signbridge.captions import caption_cues

    sentences = sorted(transcript.sentences, key=lambda s: s.start_ms)
    cues = caption_cues(transcript, settings, track=track, duration_ms=duration_ms)
    marker = settings.low_confidence_marker
    whole: list[_Piece] = []
    parts: dict[int, list[_Piece]] = {}
    for si, s in enumerate(sentences):
        mine = [c for c in cues if si in c.sentences]
        deadline = float(s.end_ms) + OVERRUN_MS
        whole.append(_Piece(si, 0, mine[0].start_ms if mine else float(s.start_ms), deadline, spoken_text(s.text)))
        own = [c for c in mine if c.sentences == (si,)]
        if len(own) > 1 and len(own) == len(mine):
            parts[si] = [_Piece(si, k, c.start_ms, deadline,
                                spoken_text(" ".join(c.lines).replace(marker, "") if marker else " ".join(c.lines)))
                         for k, c in enumerate(own, 1)]
    return whole, parts


def _synth(engine, pieces: list[_Piece]) -> None:
    for p in pieces:
        if p.clip is None:
            p.clip = engine.synth(p.text) if p.text and engine is not None else np.zeros(0, dtype=np.float32)


def _place(pieces: list[_Piece], sr: int, duration_ms: float) -> list[Placement]:
    placed = plan([p.start_ms for p in pieces], [1000.0 * p.clip.size / sr for p in pieces], duration_ms,
                  deadlines_ms=[p.deadline_ms for p in pieces])
    return [replace(pl, sentence=p.sentence, part=p.part) for pl, p in zip(placed, pieces)]


def narrate_detailed(transcript: Transcript, duration_ms: float, settings: Settings, out_wav: str | Path,
                     tts=None, *, track: GlossTrack | None = None) -> NarrationResult:
    """Synthesise every sentence, place it on the timeline, write one WAV of ``duration_ms``.

    Pass the gloss track the captions were made with, so speech follows the same cues.
    """
    import time

    from signbridge.speech.audio import fade_out, time_stretch, write_wav
    from signbridge.speech.backends import get_tts

    if duration_ms is None or not math.isfinite(duration_ms) or duration_ms <= 0:
        from signbridge.errors import InputError

        raise InputError(f"narration needs the video duration, got {duration_ms!r} ms", source=str(out_wav))
    whole, parts = _pieces(transcript, settings, track, duration_ms)
    engine = tts if tts is not None else (get_tts(settings) if whole else None)
    sr = engine.sample_rate if engine is not None else 22050
    total = int(math.ceil(duration_ms * sr / 1000.0))
    track_audio = np.zeros(total, dtype=np.float32)
    t0 = time.perf_counter()
    _synth(engine, whole)
    placements = _place(whole, sr, duration_ms)
    split = {p.sentence for p in placements if p.truncated and p.sentence in parts}
    if split:  # too long even at MAX_SPEED: speak those sentences cue by cue
        pieces = [q for p in whole for q in (parts[p.sentence] if p.sentence in split else [p])]
        _synth(engine, pieces)
        placements = _place(pieces, sr, duration_ms)
    else:
        pieces = whole
    synth_s = time.perf_counter() - t0
    for p, piece in zip(placements, pieces):
        audio = time_stretch(piece.clip, sr, p.speed)
        a = int(round(p.start_ms * sr / 1000.0))
        room = max(0, min(total - a, int(round((p.end_ms - p.start_ms) * sr / 1000.0))))
        if audio.size > room:
            audio = fade_out(audio[:room], sr)
        track_audio[a:a + audio.size] += audio
        if p.truncated:
            log.warning("narration of sentence %d cut: %.0f ms of speech did not fit before %s", p.sentence,
                        p.cut_ms, "the end of the video" if p.end_ms >= duration_ms else "its deadline or the next")
        elif p.speed > 1.0:
            log.info("narration of sentence %d sped up %.2fx", p.sentence, p.speed)
    peak = float(np.max(np.abs(track_audio))) if track_audio.size else 0.0
    if peak > 1.0:
        track_audio /= peak
    path = write_wav(out_wav, track_audio, sr)
    return NarrationResult(path=path, sample_rate=sr, duration_ms=1000.0 * total / sr, placements=placements,
                           backend=getattr(engine, "name", ""), voice=getattr(engine, "voice", ""),
                           synth_seconds=synth_s,
                           speech_ms=sum(1000.0 * p.clip.size / sr for p in pieces))


def narrate(transcript: Transcript, duration_ms: float, settings: Settings, out_wav: str | Path, *,
            track: GlossTrack | None = None) -> Path:
    """WAV narration as long as the video (silent when nothing was signed)."""
    return narrate_detailed(transcript, duration_ms, settings, out_wav, track=track).path
