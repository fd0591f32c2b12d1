"""One live session: capture → landmarks → endpoint → classify → compose → voice, every step as it happens.

The main thread takes the newest frame, finds its landmarks and feeds the endpointer; a sign that ended is
classified at once with the batch recogniser (:func:`~signbridge.recognize.infer.classify_spans`: same
tiers, word-list prior and fingerspelling), shown as a provisional gloss (``partial``), and a pause commits
its phrase as English (``caption``), which the voice thread speaks (``audio``). Each caption carries where
its time went (``timing``), which ``benchmarks/bench_live.py`` turns into the latency budget.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from signbridge.live.capture import IDLE, Capture, Frame, LiveError
from signbridge.live.endpoint import Endpointer, Sign
from signbridge.live.events import Hub
from signbridge.live.phrases import Phrases
from signbridge.live.tracker import Tracker
from signbridge.settings import Settings

STILL_SPEED = 0.5  # palm speed (shoulder widths / s) under which raised hands count as holding still
CONTEXT_MS = 1500.0  # landmarks before a sign's start kept for its classification
IDLE_S = 1.0  # no frame for this long (a stream that stopped or stalls): the open sign ends at the last frame


@dataclass
class LiveOptions:
    source: str
    realtime: bool = False
    events: str | None = None
    srt: str | None = None
    save_landmarks: str | None = None
    serve: bool = False
    host: str = "127.0.0.1"
    port: int = 8766
    voice: bool = True


@dataclass
class Stats:
    signs: int = 0
    frames: int = 0
    landmark_ms: list[float] = field(default_factory=list)
    media_s: float = 0.0
    interrupted: bool = False


class Session:
    """Everything loaded once (recogniser, voice, Holistic, page), then ``run`` until the stream ends."""

    def __init__(self, opts: LiveOptions, settings: Settings, say: Callable[[str], None] = print):
        from signbridge.live.server import PageServer
        from signbridge.live.voice import Voice
        from signbridge.recognize.checkpoint import load_recognizer

        self.opts, self.settings, self.say = opts, settings, say
        self.capture = Capture(opts.source, fps=settings.live_fps, max_side=settings.live_max_side,
                               realtime=opts.realtime, timeout_s=settings.live_timeout_s)
        self.rec = load_recognizer(settings)
        self.hint = _vocabulary(settings, self.rec)
        self.endpointer = Endpointer(self.rec.segment_cfg, hold_ms=settings.live_hold_ms, still_speed=STILL_SPEED)
        self.phrases = Phrases(settings)
        self.stats = Stats()
        self.hub = Hub(opts.events)
        self.tracker = Tracker(window_s=self.rec.segment_cfg.max_span_ms / 1000.0 + 8.0,
                               face_mode=settings.face if opts.save_landmarks else "none",
                               keep_all=bool(opts.save_landmarks))
        self._warm_up()
        self.voice = Voice(settings, self.hub) if opts.voice else None
        self.page = PageServer(self.hub, opts.source, opts.host, opts.port).start() if opts.serve else None
        self._ref: tuple[float, tuple] | None = None

    def _warm_up(self) -> None:
        """Pay the one-time costs before the stream starts: TorchScript optimises on its first calls, the
        Holistic graph opens its calculators on its first frame."""
        n, f = self.rec.feature_cfg.n_steps, self.rec.feature_cfg.n_features
        for _ in range(3):
            self.rec.classify(np.zeros((1, n, f), np.float32))
            self.rec.letter_probs(np.zeros((4, 21, 3), np.float32))
        self.tracker.holistic.process(np.full((360, 480, 3), 128, np.uint8), 1)
        self.tracker.holistic.reset()

    def run(self) -> Stats:
        """Until the source ends, Ctrl-C, or a :class:`LiveError` (raised after the captions so far are kept)."""
        error: BaseException | None = None
        frame: Frame | None = None
        try:
            self.capture.start()
            if self.page is not None:
                self.say(f"live page: {self.page.url}")
            self.say(f"waiting for video from {self.opts.source} (Ctrl-C ends)")
            while True:
                got = self.capture.next_frame(idle_s=IDLE_S)
                if got is None:
                    break
                if got is IDLE:  # no video for a while: a sign still open ends where the video stopped
                    self._pause(frame)
                    continue
                frame = got
                self._frame(frame)
        except KeyboardInterrupt:
            self.stats.interrupted = True
        except LiveError as e:
            error = e
        finally:
            self.capture.close()
            self._end(frame)
            self._close(drain=error is None and not self.stats.interrupted)
        if error is not None:
            raise error
        return self.stats

    def _frame(self, frame: Frame) -> None:
        taken = time.time()
        if self.stats.frames == 0:
            w, h = self.capture.size or (0, 0)
            self.hub.emit("ready", f"{self.opts.source}: {w}x{h} at up to {self.capture.fps:g} fps", None, None)
        t_ms, left, right = self.tracker.process(frame.index, frame.media_s, frame.rgb)
        done = time.time()
        self.stats.frames += 1
        self.stats.media_s = frame.media_s
        self.stats.landmark_ms.append(1000 * (done - taken))
        for sign in self.endpointer.push(t_ms, left, right, self._reference(t_ms)):
            self._sign(sign, t_ms, {"decided_s": round(frame.media_s, 3), "frame_arrived": round(frame.arrived, 4),
                                    "wait_ms": round(1000 * (taken - frame.arrived), 1),
                                    "landmarks_ms": round(1000 * (done - taken), 1)})

    def _reference(self, t_ms: float):
        """The body frame (shoulders), from the recent window, refreshed every half second."""
        from signbridge.recognize.frames import body_reference

        if self._ref is None or t_ms - self._ref[0] >= 500.0:
            self._ref = (t_ms, body_reference(self.tracker.window()))
        return self._ref[1]

    def _sign(self, sign: Sign, now_ms: float, timing: dict) -> None:
        from signbridge.recognize.infer import classify_spans

        t0 = time.perf_counter()
        pad = self.rec.segment_cfg.classify_pad_ms
        window = self.tracker.window(sign.start_ms - CONTEXT_MS)
        core = np.array([[max(sign.start_ms - pad, float(window.t_ms[0])), min(sign.end_ms + pad, now_ms)]])
        spans, _ = classify_spans(window, core, self.rec, self.settings, self.hint, ref=self._reference(now_ms),
                                  spans_ms=np.array([[sign.start_ms, sign.end_ms]]))
        span = spans[0]
        timing["classify_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        self.stats.signs += 1
        text = self.phrases.add(span)
        self.hub.emit("partial", text, sign.start_ms / 1000, sign.end_ms / 1000, phrase=len(self.phrases.committed),
                      provisional=True, gloss=span.label, tier=span.tier, confidence=span.confidence,
                      ended_by=sign.reason)
        if sign.closes_phrase or self.phrases.full:
            self._commit(timing)

    def _commit(self, timing: dict | None = None) -> None:
        t0 = time.perf_counter()
        c = self.phrases.commit()
        if c is None:
            return
        if timing is not None:
            timing["compose_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        self.hub.emit("caption", c.text, c.start_s, c.end_s, phrase=c.index, glosses=c.glosses, timing=timing or {})
        self.say(f"{c.start_s:8.1f} – {c.end_s:6.1f} s  {c.text}")
        if self.voice is not None:
            self.voice.say(c)

    def _pause(self, frame: Frame | None) -> None:
        """No video for ``IDLE_S``: what the signer did up to the last frame is all there is for now."""
        last = 1000.0 * frame.media_s if frame is not None else 0.0
        for sign in self.endpointer.flush(last):
            self._sign(sign, last, {"decided_s": round(last / 1000, 3), "idle": True})
        self._commit()

    def _end(self, frame: Frame | None) -> None:
        """The stream is over: a sign still open ends at the last frame, and the open phrase is committed."""
        try:
            self._pause(frame)
        except KeyboardInterrupt:  # a second Ctrl-C: leave now
            self.stats.interrupted = True

    def _close(self, drain: bool) -> None:
        try:
            if self.voice is not None:
                self.voice.close(drain=drain)
            self._write_outputs()
        finally:
            self.hub.notify("end", {"text": self.summary()})
            if self.page is not None:
                self.page.stop()
            self.hub.close()
            self.tracker.close()

    def _write_outputs(self) -> None:
        from pathlib import Path

        if self.opts.srt:
            Path(self.opts.srt).write_text(self.phrases.srt(), encoding="utf-8")
        if self.opts.save_landmarks:
            from signbridge.extract.io import write_landmarks

            table = self.tracker.table(self.opts.source, self.capture.size or (0, 0), self.capture.fps,
                                       {"dropped_frames": self.capture.dropped})
            write_landmarks(table, self.opts.save_landmarks)

    def result(self) -> dict:
        """The session as one document (``--json``): what was committed and what happened to the frames."""
        cap = self.capture
        return {"source": self.opts.source, "interrupted": self.stats.interrupted, "media_s": round(self.stats.media_s, 3),
                "signs": self.stats.signs, "frames": {"received": cap.received, "with_landmarks": self.stats.frames,
                                                      "dropped": cap.dropped},
                "captions": [{"phrase": c.index, "text": c.text, "sign_start_s": round(c.start_s, 3),
                              "sign_end_s": round(c.end_s, 3), "glosses": c.glosses} for c in self.phrases.committed],
                "outputs": {k: v for k, v in (("events", self.opts.events), ("srt", self.opts.srt),
                                              ("landmarks", self.opts.save_landmarks)) if v}}

    def summary(self) -> str:
        s, cap = self.stats, self.capture
        med = float(np.median(s.landmark_ms)) if s.landmark_ms else 0.0
        return (f"{len(self.phrases.committed)} captions from {s.signs} signs in {s.media_s:.1f} s of stream; "
                f"{cap.received} frames received, {s.frames} with landmarks ({cap.dropped} dropped: latest frame "
                f"wins); landmarks {med:.0f} ms a frame (median)")


def _vocabulary(settings: Settings, rec):
    """The ``--vocabulary`` word list resolved against the model (None without one)."""
    if getattr(settings, "recognizer", "classifier") != "classifier":
        from signbridge.errors import ConfigError

        raise ConfigError(f"live recognises with the landmark classifier, not SIGNBRIDGE_RECOGNIZER="
                          f"{settings.recognizer!r}: a vision-language model reads each span again from the video, "
                          "which live does not keep", hint="unset SIGNBRIDGE_RECOGNIZER for live")
    if settings.script:
        from signbridge.errors import ConfigError

        raise ConfigError("live takes a word list (--vocabulary), not a script: a script is aligned to a whole "
                          "recording", hint="use `signbridge run --script` on the recording instead")
    if not settings.vocabulary:
        return None
    from signbridge.recognize.hints import hint_texts
    from signbridge.recognize.infer import resolve_hints

    return resolve_hints([hint_texts(settings.vocabulary, None, settings)], rec)[0]
