"""Audio helpers: WAV I/O, pitch-preserving time-stretch (ffmpeg atempo), resampling."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from signbridge.errors import SignBridgeError


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 in [-1, 1] and the sample rate (16-bit PCM WAV, as espeak-ng and piper write)."""
    with wave.open(str(path), "rb") as w:
        sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    if width != 2:
        raise SignBridgeError(f"expected 16-bit PCM, got {8 * width}-bit", source=str(path))
    a = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if ch > 1:
        a = a.reshape(-1, ch).mean(axis=1)
    return a, sr


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    tmp = p.with_name(p.name + ".part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    tmp.replace(p)
    return p


def _ffmpeg_filter(audio: np.ndarray, sample_rate: int, name: str, out_rate: int | None = None, **kw) -> np.ndarray:
    import ffmpeg

    try:
        out, _ = (ffmpeg.input("pipe:", format="f32le", ar=sample_rate, ac=1)
                  .filter(name, **kw)
                  .output("pipe:", format="f32le", ar=out_rate or sample_rate, ac=1)
                  .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
                  .run(input=np.ascontiguousarray(audio, dtype="<f4").tobytes(), capture_stdout=True,
                       capture_stderr=True))
    except ffmpeg.Error as e:
        last = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise SignBridgeError(f"ffmpeg {name} failed: {last[-1] if last else 'no error output'}",
                              source="narration audio") from None
    return np.frombuffer(out, dtype="<f4").copy()


def time_stretch(audio: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    """Play ``speed`` times faster with the pitch kept (ffmpeg atempo, valid 0.5-100)."""
    if abs(speed - 1.0) < 1e-3 or audio.size == 0:
        return audio
    return _ffmpeg_filter(audio, sample_rate, "atempo", tempo=f"{speed:.4f}")


def resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    if sample_rate == target_rate or audio.size == 0:
        return audio
    return _ffmpeg_filter(audio, sample_rate, "aresample", out_rate=target_rate, osr=target_rate)


def fade_out(audio: np.ndarray, sample_rate: int, ms: float = 30.0) -> np.ndarray:
    n = min(audio.size, int(sample_rate * ms / 1000))
    if n > 0:
        audio = audio.copy()
        audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return audio
