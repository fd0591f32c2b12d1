"""Narration: one voice track, as long as the video, with each sentence at its caption's start."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signbridge.records import Transcript
from signbridge.settings import Settings
from signbridge.speech.timeline import MAX_SPEED, Placement, plan

log = logging.getLogger(__name__)

__all__ = ["narrate", "narrate_detailed", "spoken_text", "NarrationResult", "Placement", "plan", "MAX_SPEED"]


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


def narrate_detailed(transcript: Transcript, duration_ms: float, settings: Settings, out_wav: str | Path,
                     tts=None) -> NarrationResult:
    """Synthesise every sentence, place it on the timeline, write one WAV of ``duration_ms``."""
    import time

    from signbridge.speech.audio import fade_out, time_stretch, write_wav
    from signbridge.speech.backends import get_tts

    if duration_ms is None or not math.isfinite(duration_ms) or duration_ms <= 0:
        from signbridge.errors import InputError

        raise InputError(f"narration needs the video duration, got {duration_ms!r} ms", source=str(out_wav))
    sentences = sorted(transcript.sentences, key=lambda s: s.start_ms)
    engine = tts if tts is not None else (get_tts(settings) if sentences else None)
    sr = engine.sample_rate if engine is not None else 22050
    total = int(math.ceil(duration_ms * sr / 1000.0))
    track = np.zeros(total, dtype=np.float32)
    clips: list[np.ndarray] = []
    t0 = time.perf_counter()
    for s in sentences:
        text = spoken_text(s.text)
        clips.append(engine.synth(text) if text and engine is not None else np.zeros(0, dtype=np.float32))
    synth_s = time.perf_counter() - t0
    placements = plan([s.start_ms for s in sentences], [1000.0 * c.size / sr for c in clips], duration_ms)
    for p, clip in zip(placements, clips):
        audio = time_stretch(clip, sr, p.speed)
        a = int(round(p.start_ms * sr / 1000.0))
        room = max(0, total - a)
        if audio.size > room:
            audio = fade_out(audio[:room], sr)
        track[a:a + audio.size] += audio
        if p.truncated:
            log.warning("narration of sentence %d cut at the end of the video (%.0f ms of speech did not fit)",
                        p.index, p.speech_ms / p.speed - (p.end_ms - p.start_ms))
        elif p.delay_ms > 1:
            log.info("narration of sentence %d delayed %.0f ms, speed %.2fx", p.index, p.delay_ms, p.speed)
    peak = float(np.max(np.abs(track))) if track.size else 0.0
    if peak > 1.0:
        track /= peak
    path = write_wav(out_wav, track, sr)
    return NarrationResult(path=path, sample_rate=sr, duration_ms=1000.0 * total / sr, placements=placements,
                           backend=getattr(engine, "name", ""), voice=getattr(engine, "voice", ""),
                           synth_seconds=synth_s, speech_ms=sum(1000.0 * c.size / sr for c in clips))


def narrate(transcript: Transcript, duration_ms: float, settings: Settings, out_wav: str | Path) -> Path:
    """WAV narration as long as the video (silent when nothing was signed)."""
    return narrate_detailed(transcript, duration_ms, settings, out_wav).path
