"""The settings hash in every result folder's name: derived from the settings table's ``output`` rows."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from signbridge.settings import SETTINGS_TABLE, STAGES, Settings


def model_identity(settings: Settings) -> str:
    """What names the recogniser's behaviour: weights hash, its calibration (the cut-offs decide what is shown;
    a recalibrated model must not reuse earlier results) and few-shot additions, not its path."""
    try:
        from signbridge.recognize.checkpoint import checkpoint_dir, fewshot_path

        cfg = json.loads((checkpoint_dir(settings) / "config.json").read_text())
        ident = str(cfg.get("weights_sha256") or cfg.get("version") or "")
        cal = checkpoint_dir(settings) / "calibration.json"
        if cal.is_file():
            ident += "+cal:" + hashlib.sha256(cal.read_bytes()).hexdigest()[:12]
        fs = fewshot_path(settings)
        if fs.is_file():
            ident += "+fewshot:" + hashlib.sha256(fs.read_bytes()).hexdigest()[:12]
        return ident or str(settings.checkpoint)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint fails later, with its own clear error
        return str(settings.checkpoint or "shipped")


def vlm_identity(settings: Settings) -> str | None:
    """The VLM by what it holds (config + weight files) where it is on this machine, else its name; never
    downloads anything."""
    name = settings.vlm_model
    if not name:
        return None
    try:
        from signbridge.recognize.vlm_model import model_identity as vlm_model_identity

        folder = Path(name).expanduser()
        if not folder.is_dir():
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(name, local_files_only=True))
        return vlm_model_identity(folder)
    except Exception:  # noqa: BLE001 - not here (yet): its name stands for it; loading fails later, clearly
        return str(name)


def output_params(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every setting that changes an output, by stage (models by what they hold, not where they are)."""
    out: dict[str, dict[str, Any]] = {stage: {} for stage in STAGES}
    for s in SETTINGS_TABLE:
        if s.output:
            if s.name == "gpu_precision" and (settings.extractor != "gpu" or settings.gpu_precision == "fp32"):
                continue  # no effect there: results made before the setting existed keep their folders
            if s.name == "checkpoint":
                value = model_identity(settings)
            elif s.name == "vlm_model":
                value = vlm_identity(settings)
            else:
                value = getattr(settings, s.name)
            out[s.stage or "run"][s.name] = value
    return out


def fingerprint(settings: Settings) -> str:
    from signbridge.storage.keys import settings_fingerprint

    return settings_fingerprint(output_params(settings))
