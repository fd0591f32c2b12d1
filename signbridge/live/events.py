"""Where a live session's output goes: the ``--events`` JSON-lines file and the page's subscribers.

Every event is one JSON object with ``type`` (``ready``, ``partial``, ``caption``, ``audio``), ``text``,
``sign_start_s`` and ``sign_end_s`` (media time: seconds from the stream's first frame; null for ``ready``)
and ``wall_time`` (Unix seconds when it left the process), plus details (``phrase``, ``glosses``,
``timing``). The file gets each line as it happens, flushed. Audio samples go to subscribers only, never to a
file: the ``audio`` event marks when the first sample of a phrase's voice left.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

from signbridge.errors import ConfigError

TYPES = ("ready", "partial", "caption", "audio")
Subscriber = Callable[[str, dict[str, Any]], None]


class Hub:
    """Thread-safe fan-out of events (to the file and to subscribers) and of audio chunks (subscribers only)."""

    def __init__(self, events_path: str | Path | None = None):
        self._lock = threading.Lock()
        self._subs: list[Subscriber] = []
        self.history: list[dict[str, Any]] = []  # captions and the ready line, replayed to a page that joins late
        self.log: list[dict[str, Any]] = []  # every event, for the end-of-stream summary
        self._file = None
        if events_path:
            try:
                self._file = open(events_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            except OSError as e:
                raise ConfigError(f"cannot write the events file ({e.strerror})", source=str(events_path)) from None

    def subscribe(self, fn: Subscriber) -> list[dict[str, Any]]:
        """Add a subscriber; returns the history it missed (ready + committed captions so far)."""
        with self._lock:
            self._subs.append(fn)
            return list(self.history)

    def unsubscribe(self, fn: Subscriber) -> None:
        with self._lock:
            if fn in self._subs:
                self._subs.remove(fn)

    def emit(self, type_: str, text: str, start_s: float | None, end_s: float | None, **extra: Any) -> dict:
        """Send one event now; ``wall_time`` is stamped as it leaves."""
        assert type_ in TYPES, type_
        with self._lock:
            ev = {"type": type_, "text": text,
                  "sign_start_s": None if start_s is None else round(float(start_s), 3),
                  "sign_end_s": None if end_s is None else round(float(end_s), 3), **extra}
            ev["wall_time"] = round(time.time(), 4)
            for fn in list(self._subs):
                fn(type_, ev)
            if self._file is not None:
                self._file.write(json.dumps(ev) + "\n")
                self._file.flush()
            self.log.append(ev)
            if type_ in ("ready", "caption"):
                self.history.append(ev)
            return ev

    def audio(self, chunk: dict[str, Any]) -> None:
        """One chunk of a phrase's voice (a base64 WAV) to the subscribers; nothing is stored."""
        with self._lock:
            for fn in list(self._subs):
                fn("voice", chunk)

    def notify(self, kind: str, doc: dict[str, Any]) -> None:
        """A page-only message (``end``)."""
        with self._lock:
            for fn in list(self._subs):
                fn(kind, doc)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
