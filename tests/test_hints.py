"""Vocabulary hints and script alignment (#23): word lists, scripts, sidecars and their bad inputs, on real clips."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from signbridge.errors import InputError, ModelError

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lexicon():
    from signbridge.recognize.checkpoint import shipped_dir
    from signbridge.recognize.hints import Lexicon
    from signbridge.recognize.same_signs import representatives

    cfg = json.loads((shipped_dir() / "config.json").read_text())
    cal = json.loads((shipped_dir() / "calibration.json").read_text())
    return Lexicon(cfg["labels"], representatives(cfg["labels"], cal["same_signs"]))


def test_word_list_maps_english_words_through_spelling_and_same_sign_groups(lexicon):
    from signbridge.recognize.hints import parse_vocabulary

    v = parse_vocabulary("# lesson 3\nbooks\nMom  # same sign as MOTHER\nthank you\nwent\nqwzx\n\n", "l.txt", lexicon)
    labels = {lexicon.labels[g] for g in v.glosses}
    assert {"book", "thank you", "go"} <= labels
    assert v.matched["Mom"] in ("mother", "mom")  # the group's word
    assert v.unmatched == ["qwzx"]
    assert v.summary()["words"] == 5 and v.summary()["matched"] == 4


@pytest.mark.parametrize("data,needle", [
    (b"", "empty"), (b"# only a comment\n\n", "empty"), (b"\x00\x01\x02PK", "binary"),
    ("caf\u00e9\n".encode("latin-1"), "not UTF-8"),
])
def test_bad_word_lists_get_one_clear_line(tmp_path, lexicon, data, needle):
    from signbridge.recognize.hints import parse_vocabulary, read_hint

    f = tmp_path / "list.vocab.txt"
    f.write_bytes(data)
    with pytest.raises(InputError) as e:
        parse_vocabulary(read_hint(str(f), None, "word list")[1], str(f), lexicon)
    assert needle in str(e.value) and str(f) in str(e.value)


def test_a_list_with_no_known_word_names_the_closest_known_words(lexicon):
    from signbridge.recognize.hints import parse_vocabulary

    with pytest.raises(InputError) as e:
        parse_vocabulary("bookz\nmothr\n", "l.txt", lexicon)
    msg = str(e.value)
    assert "none of the word list's 2 words" in msg and "book" in msg and "mother" in msg


def test_script_modes(lexicon):
    from signbridge.recognize.hints import parse_script

    words = parse_script("water\nwait\nzzzq\n", "s.txt", lexicon)
    assert words.mode == "words" and [w.text for w in words.words] == ["water", "wait", "zzzq"]
    assert words.words[2].gloss is None  # a word list line is a sign even when the model does not know it
    sent = parse_script("I like ice cream. My mother is deaf!\n", "s.txt", lexicon)
    assert sent.mode == "sentences" and sent.sentences == ["I like ice cream.", "My mother is deaf!"]
    assert [w.text for w in sent.words] == ["like", "ice cream", "mother", "deaf"] or \
        "ice cream" in [w.text for w in sent.words]
    assert all(w.gloss is not None for w in sent.words) and sent.not_signs >= 2


def test_list_prior_keeps_out_of_list_evidence():
    from signbridge.recognize.listprior import listed_confidence, posterior

    p = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]])
    full = posterior(p, [0, 1, 2])
    assert np.allclose(full, p)  # a list of every class changes nothing
    post = posterior(p, [0, 1])
    conf, top = listed_confidence(post, np.array([0, 1]))
    assert top[0] == 0 and conf[0] > 0.7  # listed and likely: more sure
    assert top[1] == 2 and conf[1] == 0.0  # the span looks like an unlisted sign: nothing is shown


def test_cut_offs_by_list_size_err_on_the_side_of_showing_less():
    from signbridge.recognize.checkpoint import shipped_dir
    from signbridge.recognize.listprior import thresholds_for

    cal = json.loads((shipped_dir() / "calibration.json").read_text())
    rows = cal["vocabulary_hints"]["by_size"]
    assert [r["k"] for r in rows] == sorted(r["k"] for r in rows)
    k = rows[2]["k"] + 1  # between two fitted sizes: the smaller size's cut-offs
    assert thresholds_for(cal, k) == {"shown": rows[2]["shown"], "plain": rows[2]["plain"]}
    assert thresholds_for(cal, 10 ** 6)["shown"] == rows[-1]["shown"]
    with pytest.raises(ModelError, match="no cut-offs for word lists"):
        thresholds_for({}, 10)


@pytest.fixture(scope="module")
def go_eat(processed_clip):
    """The processed GO / EAT clip's landmarks (one signer, two signs, 2.5 s of black between them)."""
    from signbridge.extract import read_landmarks

    return read_landmarks(processed_clip.folder / "landmarks.parquet")


def _recognize(table, hint_text: dict):
    from signbridge.recognize.hints import HintTexts
    from signbridge.recognize.infer import recognize_tables
    from signbridge.settings import load_settings

    h = HintTexts(**{k: (f"{k}.txt", v) for k, v in hint_text.items()})
    return recognize_tables([table], load_settings(env={}), ["go_eat.mp4"], [h])[0]


@pytest.mark.data
def test_word_list_on_real_signing_shows_only_listed_words(go_eat):
    track = _recognize(go_eat, {"vocabulary": "go\neat\nwater\nmother\n"})
    shown = [s.label for s in track.spans if s.kind != "unknown"]
    assert shown and set(shown) <= {"go", "eat", "water", "mother"}
    assert "eat" in shown  # the model reads EAT here only once told what may be signed
    assert track.hints["vocabulary"]["matched"] == 4 and track.thresholds["shown"] > 0
    assert all(t.label for s in track.spans for t in s.top_k)


@pytest.mark.data
def test_script_is_placed_on_the_signs_and_a_long_script_is_not_stretched(go_eat):
    from signbridge.recognize.frames import frames_from_table

    dur = frames_from_table(go_eat).duration_ms
    track = _recognize(go_eat, {"script": "go\neat\n"})
    placed = [s for s in track.spans if s.script_word]
    assert [s.script_word for s in placed] == ["go", "eat"]
    go, eat = placed
    assert go.end_ms <= eat.start_ms and eat.start_ms > 2000  # EAT after the black pause, not on it
    assert all(0 <= s.alignment_confidence <= 1 for s in placed)
    long = _recognize(go_eat, {"script": "\n".join(["go", "eat"] + ["water", "mother", "book", "deaf", "help",
                                                                      "yes", "no", "walk"])})
    placed = [s for s in long.spans if s.script_word]
    assert len(placed) <= 3 and all(s.end_ms <= dur + 1 for s in placed)
    unplaced = [u["word"] for u in long.hints["alignment"]["unplaced"]]
    assert len(unplaced) >= 7  # reported, not squeezed in
    from signbridge.compose import compose_tracks
    from signbridge.settings import load_settings

    tr = compose_tracks([track], load_settings(env={}))[0]
    assert tr.backend == "script" and [s.text for s in tr.sentences] == ["go", "eat"]


@pytest.mark.data
def test_run_with_vocabulary_and_script_reuses_landmarks_and_captions_the_script(processed_clip, tmp_path):
    """Through the CLI, as a user runs it: a hinted run reads the landmarks the plain run stored."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(processed_clip.out, out)
    script = tmp_path / "words.txt"
    script.write_text("Go!\nEat.\n")
    env = {**os.environ, "SIGNBRIDGE_HOME": str(processed_clip.home), "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "run", str(processed_clip.video), "-o", str(out),
                          "--script", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "hints: script words.txt: 2 of 2 signs placed" in res.stdout
    folder = next(p for p in out.iterdir() if p.name != processed_clip.folder.name and (p / "captions.srt").is_file())
    srt = (folder / "captions.srt").read_text()
    assert "Go!" in srt and "Eat." in srt  # the script's own text
    vocab = tmp_path / "bad.txt"
    vocab.write_bytes(b"\xff\xfe\x00binary")
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "run", str(processed_clip.video), "-o", str(out),
                          "--vocabulary", str(vocab)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    err = res.stderr + res.stdout
    assert "bad.txt" in err and "binary" in err and "Traceback" not in err


@pytest.mark.data
def test_a_bad_sidecar_fails_its_video_only(shared_data, tmp_path):
    from signbridge.pipeline.discover import list_inputs
    from signbridge.settings import load_settings

    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes((shared_data / "wlasl_clips" / "69345_reenc640.mp4").read_bytes())
    (folder / "a.vocab.txt").write_bytes(b"\x89PNG\x00\x00")
    (folder / "b.mp4.vocab.txt").write_text("go\n")
    states, bad = list_inputs([str(folder)], load_settings(env={}, home=str(tmp_path / "h")))
    by = {os.path.basename(s.input_uri): s for s in states}
    assert by["a.mp4"].status == "failed" and "a.vocab.txt" in by["a.mp4"].error and "binary" in by["a.mp4"].error
    assert by["b.mp4"].active and by["b.mp4"].hints["vocabulary"]["text"] == "go\n"


@pytest.mark.data
def test_dataset_segment_cuts_a_recording_into_labelled_landmarks(processed_clip, tmp_path):
    import csv

    import pyarrow.parquet as pq

    script = tmp_path / "words.txt"
    script.write_text("go\neat\nwater\n")
    env = {**os.environ, "SIGNBRIDGE_HOME": str(tmp_path / "h"), "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "dataset", "segment", str(processed_clip.video),
                          "--script", str(script), "-o", str(tmp_path / "ds"), "--workers", "1"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "ds" / "labels.csv").open()))
    assert [r["word"] for r in rows] == ["go", "eat"]
    for r in rows:
        t = pq.read_table(tmp_path / "ds" / r["file"])
        ts = t.column("timestamp_ms").to_numpy()
        assert t.num_rows == int(r["frames"]) > 5 and ts.min() >= float(r["start_ms"]) and ts.max() < float(r["end_ms"])
    assert [u["word"] for u in csv.DictReader((tmp_path / "ds" / "unplaced.csv").open())] == ["water"]
    assert "not placed (1): water" in res.stderr


@pytest.mark.data
def test_revise_recognises_a_folder_again_with_a_word_list(copy_results, tmp_path):
    """Review's revise path: the stored landmarks, a word list, a new revision; nothing is extracted again."""
    vocab = tmp_path / "lesson.vocab.txt"
    vocab.write_text("go\neat\n")
    env = {**os.environ, "SIGNBRIDGE_HOME": str(copy_results.home), "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "revise", str(copy_results.folder),
                          "--vocabulary", str(vocab)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    revisions = sorted((copy_results.folder / "review" / "revisions").glob("*.json"))
    track = json.loads(revisions[-1].read_text())  # the gloss track the folder now renders
    shown = [s["label"] for s in track["spans"] if s["kind"] != "unknown"]
    assert shown and set(shown) <= {"go", "eat"} and track["hints"]["vocabulary"]["matched"] == 2
    assert track["hints"]["vocabulary"]["source"] == str(vocab)
    srt = (copy_results.folder / "captions.srt").read_text()
    assert any(w in srt.lower() for w in ("go", "eat"))
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "revise", str(copy_results.folder)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "--gloss-track" in res.stderr + res.stdout and "Traceback" not in res.stderr


@pytest.mark.data
def test_recognize_command_takes_a_word_list(processed_clip, tmp_path):
    vocab = tmp_path / "words.txt"
    vocab.write_text("go\neat\nblorf\n")
    env = {**os.environ, "SIGNBRIDGE_HOME": str(tmp_path / "h"), "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "recognize",
                          str(processed_clip.folder / "landmarks.parquet"), "-o", str(tmp_path / "o"),
                          "--vocabulary", str(vocab)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "word list words.txt: 2 of 3 words matched (not known: blorf)" in res.stdout
    track = json.loads(next((tmp_path / "o").glob("*.gloss_track.json")).read_text())
    assert {s["label"] for s in track["spans"] if s["kind"] == "gloss"} <= {"go", "eat"}


def test_an_s3_video_finds_its_sidecar(s3_server, s3_bucket, shared_data):
    """An uploaded video named exactly (as `process` hands it to the DAG) finds the word list stored beside it."""
    from signbridge.pipeline.discover import list_inputs
    from signbridge.storage import open_store

    store = open_store(s3_bucket, s3_server)
    store.put_file("up/abc/62746.mp4", shared_data / "wlasl_clips" / "62746.mp4")
    store.put_bytes("up/abc/62746.vocab.txt", b"week\nmonth\n")
    states, bad = list_inputs([f"{s3_bucket}/up/abc/62746.mp4"], s3_server)
    assert not bad and states[0].hints["vocabulary"]["text"] == "week\nmonth\n"
    assert states[0].hints["vocabulary"]["source"].endswith("up/abc/62746.vocab.txt")
