"""Narration: timeline rules (pure), real piper and espeak-ng synthesis, atempo keeping pitch."""
from __future__ import annotations

import numpy as np
import pytest

from signbridge.records import Sentence, Transcript
from signbridge.settings import load_settings
from signbridge.speech import MAX_SPEED, narrate, narrate_detailed, plan
from signbridge.speech.audio import read_wav, time_stretch


@pytest.fixture()
def settings(tmp_path):
    return load_settings(env={}, home=str(tmp_path / "home"))


def _tr(*texts_at):
    return Transcript(source_uri="file:///v.mp4", sha256="ab" * 32, backend="rules", model="m", prompt_version="r1",
                      sentences=[Sentence(start_ms=t, end_ms=t + 500, text=x, span_indices=[i], confidence=0.9,
                                          uncertain=False) for i, (t, x) in enumerate(texts_at)])


def test_plan_starts_at_cues_speeds_up_and_never_overlaps_or_overruns():
    # 1: fits its slot; 2: 1.2x too long -> sped up; 3: 2x too long -> 1.3x, then cut before the next starts
    p = plan([0, 2000, 4000, 5000], [1500, 2300, 2000, 800], total_ms=10_000, gap_ms=100)
    assert (p[0].start_ms, p[0].speed) == (0, 1.0)
    assert p[1].start_ms == 2000 and p[1].speed == pytest.approx(2300 / 1900, rel=1e-3)
    assert p[2].speed == MAX_SPEED and p[2].truncated and p[2].end_ms == 4900 and p[2].cut_ms > 0
    assert [x.start_ms for x in p] == [0, 2000, 4000, 5000]  # every piece starts at its cue
    for a, b in zip(p, p[1:]):
        assert a.end_ms + 100 <= b.start_ms
    # a deadline (end of signing + 1 s) bounds the speech like the next cue does
    d = plan([0], [2600], total_ms=10_000, deadlines_ms=[2000])
    assert d[0].speed == MAX_SPEED and d[0].end_ms == 2000 and not d[0].truncated
    # the last sentence at the very end of the video is cut, and says so
    q = plan([9000], [3000], total_ms=10_000)
    assert q[0].truncated and q[0].end_ms == 10_000 and q[0].speed == MAX_SPEED


def test_atempo_keeps_pitch_and_shortens():
    sr = 22050
    t = np.arange(sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    fast = time_stretch(tone, sr, 1.25)
    assert len(fast) == pytest.approx(sr / 1.25, rel=0.02)
    spec = np.abs(np.fft.rfft(fast[1000:9000]))
    peak_hz = np.argmax(spec) * sr / 8000
    assert peak_hz == pytest.approx(440, abs=6)


def _voiced(a, sr, start_ms, end_ms):
    seg = a[int(start_ms * sr / 1000):int(end_ms * sr / 1000)]
    return float(np.sqrt(np.mean(seg ** 2))) if seg.size else 0.0


@pytest.mark.parametrize("tts", ["piper", "espeak"])
def test_narration_is_as_long_as_the_video_and_starts_at_captions(tts, settings, tmp_path):
    tr = _tr((1000, "Yesterday I went to the store."), (4000, "What is your name?"))
    res = narrate_detailed(tr, 7000, settings.replace(tts=tts), tmp_path / f"{tts}.wav")
    audio, sr = read_wav(res.path)
    assert len(audio) == pytest.approx(7 * sr, abs=1)
    assert res.backend == tts and res.synth_seconds > 0
    assert [p.start_ms for p in res.placements] == [1000, 4000]
    assert _voiced(audio, sr, 0, 950) < 1e-4  # silence before the first caption
    assert _voiced(audio, sr, 1000, 2000) > 0.01  # speech from its start
    assert _voiced(audio, sr, 4000, 5000) > 0.01


def test_no_sentences_gives_a_silent_track(settings, tmp_path):
    path = narrate(_tr(), 2500, settings, tmp_path / "silent.wav")
    audio, sr = read_wav(path)
    assert len(audio) == pytest.approx(2.5 * sr, abs=1) and not audio.any()


def test_long_text_for_one_span_is_sped_up_then_cut_at_the_end(settings, tmp_path):
    long = "This single sign was narrated with a very long text that cannot possibly fit into its short slot. " * 2
    res = narrate_detailed(_tr((500, long)), 3000, settings.replace(tts="espeak"), tmp_path / "long.wav")
    p = res.placements[0]
    assert p.speed == MAX_SPEED and p.truncated
    audio, sr = read_wav(res.path)
    assert len(audio) == pytest.approx(3 * sr, abs=1)
    assert abs(audio[-20:]).max() < 0.05  # faded out, not clicked off


def test_non_ascii_and_unclear_sign_text(settings, tmp_path):
    tr = _tr((0, "Café crème [unclear sign] naïve."), (2500, "日本"))
    res = narrate_detailed(tr, 5000, settings, tmp_path / "u.wav")
    audio, sr = read_wav(res.path)
    first, second = res.placements  # both sentences are spoken, each at its caption
    assert (first.start_ms, second.start_ms) == (0, 2500) and first.end_ms <= second.start_ms
    assert second.end_ms - second.start_ms > 300  # "日本" is voiced, not skipped as unpronounceable
    assert _voiced(audio, sr, 0, 1500) > 0.01
    assert _voiced(audio, sr, 2500, second.end_ms) > 0.01
    assert _voiced(audio, sr, second.end_ms + 50, 5000) < 1e-3  # and nothing after it


def test_missing_voice_and_xtts_give_clear_errors(settings, tmp_path):
    from signbridge.errors import ModelError
    from signbridge.speech.backends import get_tts

    with pytest.raises(ModelError, match="piper voice model not found"):
        get_tts(settings.replace(tts_voice=str(tmp_path / "none.onnx")))
    with pytest.raises(ModelError, match="SIGNBRIDGE_XTTS_MODEL_DIR"):
        get_tts(settings.replace(tts="xtts"))
    with pytest.raises(ModelError, match="espeak-ng has no voice 'no-such-voice'"):
        get_tts(settings.replace(tts="espeak", tts_voice="no-such-voice"))
    assert get_tts(settings.replace(tts="espeak", tts_voice="en-gb")).synth("hello").size > 1000


def test_speak_cli(settings, tmp_path):
    import json

    from signbridge.cli import main

    tj = tmp_path / "t.json"
    tj.write_text(json.dumps(_tr((0, "Hello there.")).to_dict()))
    out = tmp_path / "n.wav"
    assert main(["speak", "--home", str(tmp_path / "h"), str(tj), "-o", str(out), "--duration-ms", "1500",
                 "--tts", "espeak"]) == 0
    audio, sr = read_wav(out)
    assert len(audio) == pytest.approx(1.5 * sr, abs=1)
