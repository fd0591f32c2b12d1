"""On-disk cache of composed sentences, keyed by (glosses, backend, model, prompt version).

LLM calls are the slow part of a re-run; the same gloss group recurs across
re-runs and across videos, so a tiny content-addressed cache pays off.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)


def cache_key(labels: Sequence[str], confidences: Sequence[float], backend: str, model: str, prompt_version: str) -> str:
    doc = {"glosses": list(labels), "confidences": [round(float(c), 2) for c in confidences],
           "backend": backend, "model": model, "prompt_version": prompt_version}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class ComposeCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def for_home(cls, home: str | Path) -> "ComposeCache":
        return cls(Path(home) / "cache" / "compose")

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self._path(key)
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent or half-written by a crashed run: recompute

    def put(self, key: str, value: dict[str, Any]) -> None:
        p = self._path(key)
        tmp = None
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f, ensure_ascii=False)
            os.replace(tmp, p)
        except OSError as e:
            # a read-only or full home must not fail a run: the cache is only an optimisation
            log.warning("composer cache not written (%s): %s", p.parent, e)
            if tmp:
                Path(tmp).unlink(missing_ok=True)
