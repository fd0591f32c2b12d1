"""Re-narrate only the sentences that changed, splicing them into the previous narration track.

Unchanged sentences keep their exact samples from the previous ``narration.wav``: no
synthesis time is spent on them, and they stay identical with any voice (XTTS output
varies from run to run). A changed sentence is synthesised once per text + voice +
settings; the clip is cached next to the results, so restoring or re-saving a
revision never synthesises the same sentence twice.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from signbridge.records import Sentence
from signbridge.settings import Settings

TTS_CACHE = "review/tts"


@dataclass
class SpliceStats:
    kept: list[int] = field(default_factory=list)  # new sentence indices whose audio was carried over
    synthesised: int = 0
    cached: int = 0
    placed: dict[int, tuple[int, int]] = field(default_factory=dict)  # sentence index -> (first sample, count)


class CachedVoice:
    """The configured TTS engine behind a clip cache in the result folder (a Store)."""

    def __init__(self, folder, settings: Settings, stats: SpliceStats):
        self.folder, self.settings, self.stats = folder, settings, stats
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from signbridge.speech.backends import get_tts

            self._engine = get_tts(self.settings)
        return self._engine

    def key(self, text: str) -> str:
        s = self.settings
        doc = {"text": text, "tts": s.tts, "voice": s.tts_voice, "language": s.language, "xtts": s.xtts_model_dir,
               "marker": s.low_confidence_marker}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def clip(self, text: str) -> tuple[np.ndarray, int]:
        """(mono float32 audio, sample rate) for ``text``: from the cache, else synthesised and cached."""
        name = f"{TTS_CACHE}/{self.key(text)}.npz"
        if self.folder.exists(name):
            self.stats.cached += 1
            with np.load(io.BytesIO(self.folder.get_bytes(name))) as z:
                return z["audio"].astype(np.float32), int(z["sample_rate"])
        audio = np.asarray(self.engine.synth(text), dtype=np.float32)
        buf = io.BytesIO()
        np.savez(buf, audio=audio, sample_rate=np.int64(self.engine.sample_rate))
        self.folder.put_bytes(name, buf.getvalue(), "application/octet-stream")
        self.stats.synthesised += 1
        return audio, int(self.engine.sample_rate)


def _read_pcm(path: Path | None, duration_ms: float, default_sr: int) -> tuple[np.ndarray, int]:
    if path is not None and path.is_file():
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() == 1 and w.getsampwidth() == 2:
                return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy(), w.getframerate()
    return np.zeros(int(math.ceil(duration_ms * default_sr / 1000.0)), dtype="<i2"), default_sr


def splice(previous_wav: Path | None, old: Sequence[Sentence], new: Sequence[Sentence], kept: dict[int, int],
           duration_ms: float, voice: CachedVoice, out_wav: Path) -> Path:
    """Write ``out_wav``: the previous track with the sentences not in ``kept`` (new index -> old index)
    silenced and the new ones synthesised in their place. Both sentence lists are sorted by start."""
    from signbridge.speech import OVERRUN_MS, plan, spoken_text
    from signbridge.speech.timeline import GAP_MS
    from signbridge.speech.audio import fade_out, resample, time_stretch

    pcm, sr = _read_pcm(previous_wav, duration_ms, 22050)
    total = pcm.size

    def at(ms: float) -> int:
        return min(total, max(0, int(round(ms * sr / 1000.0))))

    keep_old = set(kept.values())
    for j, s in enumerate(old):
        if j not in keep_old:
            pcm[at(s.start_ms):at(old[j + 1].start_ms) if j + 1 < len(old) else total] = 0
    for i, s in enumerate(new):
        if i in kept:
            voice.stats.kept.append(i)
            continue
        text = spoken_text(s.text)
        if not text:
            continue
        audio, clip_sr = voice.clip(text)
        audio = resample(audio, clip_sr, sr)
        # the full narration's rule (speech.plan): sped up to MAX_SPEED, over before the next sentence and
        # within OVERRUN_MS of the end of its signing
        limit = new[i + 1].start_ms - GAP_MS if i + 1 < len(new) else duration_ms
        (p,) = plan([s.start_ms], [1000.0 * audio.size / sr], min(duration_ms, limit),
                    deadlines_ms=[s.end_ms + OVERRUN_MS])
        a = at(p.start_ms)
        room = max(1, at(p.end_ms) - a)
        audio = time_stretch(audio, sr, p.speed)
        if audio.size > room:
            audio = fade_out(audio[:room], sr)
        pcm[a:a + audio.size] = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
        voice.stats.placed[i] = (a, int(audio.size))
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out_wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return out_wav
