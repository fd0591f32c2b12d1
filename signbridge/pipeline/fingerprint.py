"""The settings hash in every result folder's name: derived from the settings table's ``output`` rows."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from signbridge.settings import SETTINGS_TABLE, STAGES, Settings


def model_identity(settings: Settings) -> str:
    """What names the recogniser's behaviour: weights hash (+ few-shot additions), not its path."""
    try:
        from signbridge.recognize.checkpoint import checkpoint_dir, fewshot_path

        cfg = json.loads((checkpoint_dir(settings) / "config.json").read_text())
        ident = str(cfg.get("weights_sha256") or cfg.get("version") or "")
        fs = fewshot_path(settings)
        if fs.is_file():
            ident += "+fewshot:" + hashlib.sha256(fs.read_bytes()).hexdigest()[:12]
        return ident or str(settings.checkpoint)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint fails later, with its own clear error
        return str(settings.checkpoint or "shipped")


def output_params(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every setting that changes an output, by stage (the checkpoint by what it holds, not where it is)."""
    out: dict[str, dict[str, Any]] = {stage: {} for stage in STAGES}
    for s in SETTINGS_TABLE:
        if s.output:
            value = model_identity(settings) if s.name == "checkpoint" else getattr(settings, s.name)
            out[s.stage or "run"][s.name] = value
    return out


def fingerprint(settings: Settings) -> str:
    from signbridge.storage.keys import settings_fingerprint

    return settings_fingerprint(output_params(settings))
