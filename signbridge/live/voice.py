"""The live voice: each committed phrase spoken as soon as it exists, on its own thread.

The TTS engine is the batch one (:func:`signbridge.speech.backends.get_tts`: piper by default, loaded once);
piper hands over its audio sentence by sentence, and each piece goes to the page at once as a small WAV in
memory (base64), never to a file. Phrases are spoken in order; a phrase committed while the previous one is
still being synthesised waits for it (``wait_ms`` in its ``audio`` event).
"""
from __future__ import annotations

import base64
import io
import queue
import threading
import time
import wave
from typing import Iterator

import numpy as np

from signbridge.live.events import Hub
from signbridge.live.phrases import Committed


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono WAV of float audio, in memory."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes((np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
    return buf.getvalue()


def pieces(engine, text: str) -> Iterator[np.ndarray]:
    """The engine's audio for ``text`` piece by piece (piper: per sentence), or in one piece."""
    stream = getattr(engine, "stream", None)
    if stream is not None:
        yield from stream(text)
    else:
        yield engine.synth(text)


class Voice:
    """Speaks committed phrases in order; publishes their audio and one ``audio`` event per phrase."""

    def __init__(self, settings, hub: Hub):
        from signbridge.speech.backends import get_tts

        self.hub = hub
        self.engine = get_tts(settings)
        self.sample_rate = int(self.engine.sample_rate)
        for _ in pieces(self.engine, "Ready."):  # the first synthesis pays onnxruntime's warm-up
            pass
        self._q: queue.Queue[tuple[Committed, float] | None] = queue.Queue()
        self._abort = False
        self.spoken = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="live-voice", daemon=True)
        self._thread.start()

    def say(self, phrase: Committed) -> None:
        self._q.put((phrase, time.time()))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None or self._abort:
                return
            try:
                self._speak(*item)
            except Exception as e:  # noqa: BLE001 - a voice failure must not end the captions
                self.errors.append(f"{type(e).__name__}: {e}")

    def _speak(self, phrase: Committed, queued: float) -> None:
        began = time.time()
        t0 = time.perf_counter()
        for seq, audio in enumerate(pieces(self.engine, phrase.spoken)):
            if self._abort:
                return
            self.hub.audio({"phrase": phrase.index, "seq": seq, "sample_rate": self.sample_rate,
                            "duration_s": round(audio.size / self.sample_rate, 3),
                            "wav": base64.b64encode(wav_bytes(audio, self.sample_rate)).decode("ascii")})
            if seq == 0:
                self.hub.emit("audio", phrase.spoken, phrase.start_s, phrase.end_s, phrase=phrase.index,
                              wait_ms=round(1000 * (began - queued), 1),
                              synth_ms=round(1000 * (time.perf_counter() - t0), 1),
                              audio_s=round(audio.size / self.sample_rate, 3))
        self.spoken += 1

    def close(self, drain: bool, timeout: float = 30.0) -> None:
        """Stop the voice: after the phrases already committed (``drain``), or after the current piece."""
        if not drain:
            self._abort = True
        self._q.put(None)
        self._thread.join(timeout)
        self._abort = True
