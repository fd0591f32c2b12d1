"""Same input, same settings, same version: byte-identical outputs, run in two separate processes.

Timings belong in the manifest and ``result.json``; every data file must be a pure function of
the input and the settings (no wall-clock in Parquet metadata, the voice's noise seeded per
sentence, no creation time or build string in the MP4).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

CLIP = "wlasl_clips/01377.mp4"
DATA_FILES = ("landmarks.parquet", "gloss_track.json", "transcript.json", "captions.srt", "captions.vtt",
              "narration.wav", "video.mp4")


def _run(video: Path, out: Path, home: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_"))}
    env["SIGNBRIDGE_HOME"] = str(home)
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "run", str(video), "-o", str(out)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    (folder,) = [p for p in out.iterdir() if p.is_dir() and p.name not in ("runs", "_index", "_staging")]
    return folder


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_two_runs_give_identical_bytes(shared_data, tmp_path):
    video = shared_data / CLIP
    a = _run(video, tmp_path / "a", tmp_path / "home-a")
    b = _run(video, tmp_path / "b", tmp_path / "home-b")
    assert a.name == b.name
    for name in DATA_FILES:
        assert (a / name).is_file(), f"{name} missing: the clip must produce every output for this test"
        assert _digest(a / name) == _digest(b / name), f"{name} differs between two runs of the same clip"
