"""The caption and narration rules on real outputs: ``signbridge run`` on a real signed clip (real MediaPipe,
recogniser, composer, TTS, ffmpeg) and ``signbridge mux`` of a 3-minute gloss track onto a real video; the
written .srt/.vtt are read back as a player reads them and the narration WAV is checked for speech where
the rules forbid it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from signbridge.captions import caption_cues, parse_cues
from signbridge.captions.rules import check_cues
from signbridge.captions.synthetic import synthetic_track
from signbridge.compose import compose_tracks, faithful
from signbridge.records import GlossTrack, Transcript
from signbridge.settings import load_settings
from signbridge.speech import OVERRUN_MS
from signbridge.speech.audio import read_wav


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_"))}
    env["SIGNBRIDGE_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "signbridge.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _check_folder(folder: Path, settings, track: GlossTrack, duration_ms: float) -> list:
    tr = Transcript.from_dict(json.loads((folder / "transcript.json").read_text()))
    for s in tr.sentences:
        confs = [track.spans[i].confidence for i in s.span_indices]
        assert not faithful.violations(s.text, s.glosses, confs, settings.low_confidence), s
    per_file = []
    for name in ("captions.srt", "captions.vtt"):
        cues = parse_cues((folder / name).read_text(encoding="utf-8"))
        assert cues, name
        chk = check_cues(cues, tr, settings, track=track, duration_ms=duration_ms)
        assert chk.ok, (name, chk.broken)
        per_file.append(cues)
    assert [(c.start_ms, c.end_ms, c.lines) for c in per_file[0]] == [(c.start_ms, c.end_ms, c.lines)
                                                                       for c in per_file[1]]
    return per_file[0]


def test_signbridge_run_on_a_signed_clip(shared_data, tmp_path):
    clip = shared_data / "continuous_clips" / "asl_wrong_what.mp4"
    res = _cli(["run", str(clip), "-o", str(tmp_path / "out")], tmp_path / "home")
    assert res.returncode == 0, res.stderr[-2000:]
    (folder,) = [p for p in (tmp_path / "out").iterdir() if (p / "gloss_track.json").is_file()]
    track = GlossTrack.read(folder / "gloss_track.json")
    settings = load_settings(env={}, home=str(tmp_path / "home"))
    cues = _check_folder(folder, settings, track, 3237.0)
    assert cues[0].start_ms >= min(s.start_ms for s in track.spans) - 2  # not before the first sign


def _speech_outside(wav: Path, allowed: list[tuple[float, float]]) -> float:
    """Loudest 20 ms frame (RMS) of the narration outside the allowed windows."""
    audio, sr = read_wav(wav)
    frame = sr // 50
    worst = 0.0
    for k in range(0, audio.size - frame, frame):
        t0, t1 = 1000.0 * k / sr, 1000.0 * (k + frame) / sr
        if not any(a - 20 <= t0 and t1 <= b + 20 for a, b in allowed):
            worst = max(worst, float(np.sqrt(np.mean(audio[k:k + frame] ** 2))))
    return worst


def test_mux_of_a_three_minute_gloss_track(tmp_path):
    """70 signs over 3 minutes onto a real (generated) video: captions follow the signs, speech its cues."""
    track = synthetic_track(3)
    dur_s = track.duration_ms / 1000.0
    video = tmp_path / "lesson.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=gray:s=160x120:r=5:d={dur_s:.3f}",
                    "-c:v", "libx264", "-preset", "ultrafast", str(video)], check=True, timeout=120)
    settings = load_settings(env={}, home=str(tmp_path / "home"))
    tr = compose_tracks([track], settings)[0]
    (tmp_path / "t.json").write_text(json.dumps(tr.to_dict()))
    (tmp_path / "g.json").write_text(json.dumps(track.to_dict()))
    res = _cli(["mux", str(video), "--transcript", str(tmp_path / "t.json"), "--gloss-track", str(tmp_path / "g.json"),
                "--tts", "espeak", "-o", str(tmp_path / "out")], tmp_path / "home")
    assert res.returncode == 0, res.stderr[-2000:]
    from signbridge.media import require_video

    duration_ms = require_video(tmp_path / "out" / "video.mp4").duration_s * 1000.0
    cues = _check_folder(tmp_path / "out", settings, track, duration_ms)
    sentences = sorted(tr.sentences, key=lambda s: s.start_ms)
    assert len(cues) > len(sentences)  # long sentences take several cues
    # speech only from a sentence's first cue until 1 s after its signing ends (or the next sentence starts)
    computed = caption_cues(tr, settings, track=track, duration_ms=duration_ms)
    assert [(round(c.start_ms), c.lines) for c in computed] == [(round(c.start_ms), c.lines) for c in cues]
    firsts = [min(c.start_ms for c in computed if i in c.sentences) for i in range(len(sentences))]
    allowed = [(a, min(s.end_ms + OVERRUN_MS, b)) for a, s, b in zip(firsts, sentences, firsts[1:] + [1e12])]
    assert _speech_outside(tmp_path / "out" / "narration.wav", allowed) < 1e-3
