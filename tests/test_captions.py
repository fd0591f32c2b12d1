"""Captions: guideline layout and timing, low-confidence marks, SRT/WebVTT syntax, bad input."""
from __future__ import annotations

import re

import pytest

from signbridge.captions import (MAX_CPS, MAX_LINE, MAX_MS, MIN_MS, break_lines, caption_cues, to_srt, to_vtt)
from signbridge.compose import compose_tracks
from signbridge.records import GlossSpan, GlossTrack, Sentence, Transcript
from signbridge.settings import load_settings


@pytest.fixture()
def settings(tmp_path):
    return load_settings(env={}, home=str(tmp_path))


def _tr(*sentences):
    return Transcript(source_uri="file:///v.mp4", sha256="ab" * 32, backend="rules", model="m", prompt_version="r1",
                      sentences=list(sentences))


def _sent(start, end, text, conf=0.9, uncertain=False, idx=(0,)):
    return Sentence(start_ms=start, end_ms=end, text=text, span_indices=list(idx), confidence=conf,
                    uncertain=uncertain)


def _assert_guidelines(cues, check_cps=True):
    for i, c in enumerate(cues):
        assert 1 <= len(c.lines) <= 2
        assert all(0 < len(line) <= MAX_LINE for line in c.lines), c.lines
        dur = c.end_ms - c.start_ms
        assert MIN_MS - 1 <= dur <= MAX_MS + 1, dur
        # over 17 cps only when the cue already runs until the next one (which may wait at most 3 s for it)
        runs_on = i + 1 < len(cues) and cues[i + 1].start_ms - c.end_ms <= 41
        if check_cps and not runs_on:
            assert c.chars / (dur / 1000) <= MAX_CPS + 0.01, (c.text, dur)
    for a, b in zip(cues, cues[1:]):
        assert a.end_ms <= b.start_ms  # never two cues on screen at once


def test_layout_and_timing_follow_guidelines(settings):
    long = ("After the meeting the teachers and the students went to the library, because they wanted to read "
            "the new books that had arrived from the city, and then they went home.")
    tr = _tr(_sent(0, 300, "Hi."), _sent(2000, 4000, long), _sent(20000, 21000, "What is your name?"))
    cues = caption_cues(tr, settings, duration_ms=30000)
    _assert_guidelines(cues)
    assert cues[0].start_ms == 0 and cues[0].end_ms >= 1000  # a short cue still stays up 1 s
    assert len(cues) >= 4  # the long sentence is split into several cues
    joined = " ".join(" ".join(c.lines) for c in cues)
    assert joined.split() == ("Hi. " + long + " What is your name?").split()  # nothing dropped or reordered


def test_line_breaks_prefer_phrase_boundaries():
    lines = break_lines("We went to the library yesterday, and then we all went home.")
    assert lines == ["We went to the library yesterday,", "and then we all went home."]
    assert break_lines("short") == ["short"]


def test_srt_and_vtt_syntax(settings):
    tr = _tr(_sent(1500, 3200, "I like <tea> & coffee."), _sent(3723_500, 3725_000, "Bye."))
    srt = to_srt(tr, settings)
    blocks = srt.strip().split("\n\n")
    assert blocks[0].splitlines()[0] == "1" and blocks[1].splitlines()[0] == "2"
    assert re.fullmatch(r"00:00:01,500 --> 00:00:03,\d{3}", blocks[0].splitlines()[1])
    assert blocks[1].splitlines()[1].startswith("01:02:03,500 --> ")
    vtt = to_vtt(tr, settings)
    assert vtt.startswith("WEBVTT\n\n")
    assert "00:00:01.500 --> " in vtt and "&lt;tea&gt; &amp; coffee" in vtt


def test_low_confidence_words_are_marked(settings):
    spans = [GlossSpan(0, 400, "IX-1p", "gloss", 0.95), GlossSpan(450, 900, "go", "gloss", 0.45),
             GlossSpan(950, 1300, "store", "gloss", 0.9)]
    track = GlossTrack(source_uri="file:///v.mp4", sha256="ab" * 32, model_name="m", model_version="1", spans=spans)
    tr = compose_tracks([track], settings)[0]
    assert tr.sentences[0].text == "I go to the store." and tr.sentences[0].uncertain
    assert "I go(?) to the store." in to_srt(tr, settings, track=track)
    # without the track only the sentence is known to be uncertain: the mark goes at its end
    assert "I go to the store(?)." in to_srt(tr, settings)
    assert "(?)" not in to_srt(tr, settings.replace(low_confidence_marker=""), track=track)
    custom = settings.replace(low_confidence_marker="*")
    assert "I go* to the store." in to_srt(tr, custom, track=track)


def test_no_signing_gives_empty_captions(settings):
    tr = _tr()
    assert to_srt(tr, settings) == ""
    assert to_vtt(tr, settings).strip() == "WEBVTT"


def test_very_long_text_for_one_span(settings):
    """One span whose text is far longer than a caption (a long fingerspelled run): split, nothing lost."""
    word = "Supercalifragilisticexpialidocious" * 4
    tr = _tr(_sent(1000, 1500, f"{word} is long."), _sent(30000, 31000, "Next."))
    cues = caption_cues(tr, settings, duration_ms=40000)
    _assert_guidelines(cues)
    assert "".join("".join(c.lines) for c in cues[:-1]).replace(" ", "") == f"{word}islong."


def test_fast_signing_never_overlaps_or_drops_text(settings):
    """Back-to-back sentences with no pause: cues stay >= 1 s and ordered even if 17 cps cannot hold."""
    tr = _tr(*[_sent(i * 300, i * 300 + 300, f"Sentence number {i} is here.") for i in range(6)])
    cues = caption_cues(tr, settings)
    _assert_guidelines(cues, check_cps=False)
    # sentences too short to read alone share a cue; nothing is dropped or reordered
    assert " ".join(" ".join(c.lines) for c in cues) == " ".join(f"Sentence number {i} is here." for i in range(6))
    assert len(cues) < 6


def test_non_ascii_text(settings):
    tr = _tr(_sent(0, 2000, "Café 日本語のテキストとても長い文章です。" * 3))
    cues = caption_cues(tr, settings)
    _assert_guidelines(cues, check_cps=False)
    assert "Café" in to_srt(tr, settings) and "日本語" in to_vtt(tr, settings)
