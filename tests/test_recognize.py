"""Recognition on real research landmarks through the shipped (TorchScript) model.

Everything here uses the checkpoint inside the package; nothing retrains it.
Sequences come from the WLASL holistic ``.npy`` files converted to our Parquet
contract, so they take the same path as extracted videos.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from signbridge import contracts
from signbridge.errors import ModelError, SchemaError
from signbridge.records import UNKNOWN, GlossTrack
from signbridge.settings import load_settings

pytestmark = [pytest.mark.data, pytest.mark.usefixtures("one_torch_thread")]



NPY = "wlasl_holistic_landmarks_npy"
ALPHABET = "asl_alphabet_hand_landmarks/asl_alphabet_hand_landmarks.npz"


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(env={}, home=str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def val_rows(shared_data):
    import csv

    with open(shared_data / NPY / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "val"]
    return rows


@pytest.fixture(scope="module")
def val_tables(shared_data, val_rows):
    from signbridge.recognize.frames import npy_to_table

    return [(npy_to_table(shared_data / NPY / r["file"]), r["gloss"]) for r in val_rows[:12]]


@pytest.fixture(scope="module")
def shipped(settings):
    from signbridge.recognize.checkpoint import load_recognizer

    return load_recognizer(settings)


def _without_hands(table):
    n = table.num_rows
    nulls = pa.nulls(n, type=pa.list_(pa.float32()))
    for part in ("left_hand", "right_hand"):
        table = table.set_column(table.schema.get_field_index(part), table.schema.field(part), nulls)
    return table


# --------------------------------------------------------------------------- features

def test_npy_table_round_trip_keeps_landmarks_and_contract(shared_data, val_rows):
    from signbridge.recognize.frames import frames_from_npy, frames_from_table, npy_to_table

    path = shared_data / NPY / val_rows[0]["file"]
    table = npy_to_table(path)
    contracts.validate_landmarks(table, str(path))
    back = frames_from_table(table)
    orig = frames_from_npy(path)
    np.testing.assert_allclose(back.t_ms, orig.t_ms)
    for a, b in ((back.pose, orig.pose), (back.left, orig.left), (back.right, orig.right)):
        np.testing.assert_array_equal(np.isnan(a[:, 0, 0]), np.isnan(b[:, 0, 0]))
        np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b))
    assert back.face is None
    # and through a Parquet file (nullable list columns survive the round trip)
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    again = frames_from_table(pq.read_table(pa.BufferReader(buf.getvalue())))
    np.testing.assert_array_equal(np.isnan(again.right[:, 0, 0]), np.isnan(orig.right[:, 0, 0]))


def test_features_follow_time_not_frame_rate(shared_data, val_rows):
    """The same signing sampled at 25 fps and at 12.5 fps gives nearly the same features."""
    from signbridge.recognize.features import FeatureConfig, span_features
    from signbridge.recognize.frames import frames_from_npy

    cfg = FeatureConfig()
    f = frames_from_npy(shared_data / NPY / val_rows[3]["file"])
    half = f.slice(0, len(f))
    keep = np.arange(0, len(f), 2)
    half.t_ms, half.pose, half.left, half.right = f.t_ms[keep], f.pose[keep], f.left[keep], f.right[keep]
    span = np.array([[0.0, f.t_ms[-1] + 40.0]])
    a = span_features(f, span, cfg)
    b = span_features(half, span, cfg)
    pos = slice(0, 22 + 2 * (42 + 63))  # positions and shapes (velocities differ by one frame's step)
    assert a.shape == b.shape == (1, cfg.n_steps, cfg.n_features)
    assert np.median(np.abs(a[..., pos] - b[..., pos])) < 0.05
    assert np.abs(a).max() > 0.5  # not all zeros


def test_mirror_swaps_hands_and_is_its_own_inverse(shared_data, val_rows):
    from signbridge.recognize.features import hand_shape, mirror
    from signbridge.recognize.frames import frames_from_npy

    f = frames_from_npy(shared_data / NPY / val_rows[0]["file"])
    m = mirror(f)
    np.testing.assert_array_equal(np.isnan(m.left[:, 0, 0]), np.isnan(f.right[:, 0, 0]))
    mm = mirror(m)
    np.testing.assert_allclose(np.nan_to_num(mm.pose), np.nan_to_num(f.pose), atol=1e-6)
    np.testing.assert_allclose(np.nan_to_num(mm.right), np.nan_to_num(f.right), atol=1e-6)
    # hand shape ignores where the hand is and how large it appears
    h = f.right[~np.isnan(f.right[:, 0, 0])][:1]
    np.testing.assert_allclose(hand_shape(h), hand_shape(h * 2.0 + 0.3), atol=1e-4)


def test_canonical_hand_makes_a_clip_and_its_mirror_image_look_alike(shared_data, val_rows):
    """With canonical_hand, a left-handed rendition of a sign gives the right-handed rendition's features."""
    from signbridge.recognize.features import FeatureConfig, mirror, span_features
    from signbridge.recognize.frames import frames_from_npy

    f = frames_from_npy(shared_data / NPY / val_rows[0]["file"])
    span = np.array([[0.0, f.t_ms[-1] + 40.0]])
    canon, plain = FeatureConfig(canonical_hand=True), FeatureConfig()
    a, b = span_features(f, span, canon), span_features(mirror(f), span, canon)
    np.testing.assert_allclose(a, b, atol=1e-4)
    # without it the two differ (the hands swap places), so the test can fail
    assert np.abs(span_features(f, span, plain) - span_features(mirror(f), span, plain)).max() > 0.1


# --------------------------------------------------------------------------- recognition

def test_recognize_val_clips_gives_valid_tracks_with_sorted_top_k(val_tables, settings, shipped):
    """Holistic WLASL clips through the hands-only model: valid tracks, honest tiers, shown words mostly right.

    Some of these videos are also in the hands training data (other extractor); held-out numbers come from
    benchmarks/bench_recognize_wlasl.py (docs/model_card.md)."""
    from signbridge.recognize import recognize_tables

    tracks = recognize_tables([t for t, _ in val_tables], settings)
    assert len(tracks) == len(val_tables)
    hits = shown = right = 0
    for track, (table, gloss) in zip(tracks, val_tables):
        doc = track.to_dict()  # validates against the gloss-track schema
        assert GlossTrack.from_dict(doc).spans == track.spans
        meta = contracts.read_landmarks_metadata(table)
        assert track.sha256 == meta["sha256"] and track.source_uri == meta["source_uri"]
        assert track.model_name == shipped.name and track.vocabulary_sha256
        for s in track.spans:
            probs = [t.prob for t in s.top_k]
            assert probs == sorted(probs, reverse=True) and 0 <= s.confidence <= 1
            assert s.kind in ("gloss", "unknown", "fingerspelling") and 0 <= s.start_ms < s.end_ms
            if s.kind == "gloss":
                assert s.label in shipped.labels and s.confidence >= shipped.thresholds["shown"]
                assert s.tier == ("plain" if s.confidence >= shipped.thresholds["plain"] else "uncertain")
            if s.kind == "unknown":
                assert s.tier == "unclear"
            shown += s.kind == "gloss"
            right += s.kind == "gloss" and s.label == gloss
        hits += any(gloss in [t.label for t in s.top_k] for s in track.spans)
        assert track.status == ("no_signing_recognised" if track.no_signing_recognised else "signing_recognised")
    assert hits >= len(val_tables) // 2  # the right gloss is among the top 5 of most clips
    assert right >= shown - right  # words shown are more often right than wrong


def test_batching_does_not_change_results(val_tables, settings):
    from signbridge.recognize import recognize_table, recognize_tables

    tables = [t for t, _ in val_tables[:4]]
    together = recognize_tables(tables, settings.replace(batch_size=256))
    one_by_one = [recognize_table(t, settings.replace(batch_size=1)) for t in tables]
    for a, b in zip(together, one_by_one):
        assert [s.label for s in a.spans] == [s.label for s in b.spans]
        np.testing.assert_allclose([s.confidence for s in a.spans], [s.confidence for s in b.spans], atol=1e-4)


def test_low_confidence_spans_become_unknown_and_keep_top_k(val_tables, settings):
    from signbridge.recognize import recognize_table

    track = recognize_table(val_tables[0][0], settings.replace(min_confidence=0.9999))
    assert track.spans and all(s.label == UNKNOWN and s.kind == "unknown" for s in track.spans)
    assert all(len(s.top_k) == 5 and s.top_k[0].label != UNKNOWN for s in track.spans)
    doc = track.to_dict()
    assert doc["model"]["min_confidence"] == 0.9999
    # an all-UNKNOWN track says so, with the reason, instead of a bare result
    assert doc["recognition"] == {"status": "no_signing_recognised",
                                  "reason": f"{len(track.spans)} sign span(s), none recognised with enough "
                                            "confidence ([unclear sign])"}


def test_concatenated_clips_are_segmented_into_signs(shared_data, val_rows, settings, shipped):
    from signbridge.recognize.datasets import load_dataset
    from signbridge.recognize.evaluate import concatenated_sequences, evaluate_segmentation
    from signbridge.recognize.frames import frames_from_npy, research_meta, table_from_frames
    from signbridge.recognize.sequences import concat_frames
    from signbridge.recognize import recognize_table

    # the documented figure (docs/model_card.md: F1 0.92 on 40 sequences of 8 val clips), recomputed (< 1 s)
    val = [s for s in load_dataset(f"npy:{shared_data / NPY}") if s.split == "val"]
    seg = evaluate_segmentation(concatenated_sequences(val, n_seq=40, per_seq=8, seed=1), shipped.segment_cfg)
    assert seg["f1"] >= 0.9 and seg["sequences"] == 40, seg
    parts = [frames_from_npy(shared_data / NPY / r["file"]) for r in val_rows[20:26]]
    frames, bounds = concat_frames(parts)
    track = recognize_table(table_from_frames(frames, research_meta("concat", 25.0)), settings)
    assert 4 <= len(track.spans) <= 9
    starts = [s.start_ms for s in track.spans]
    assert starts == sorted(starts)
    assert all(a.end_ms <= b.start_ms + 1e-6 for a, b in zip(track.spans, track.spans[1:]))


def test_fingerspelled_word_is_collapsed_into_fs_word(shared_data, val_rows, shipped, settings):
    """Held-out letter shapes (never trained on) spelled on a real signer's body read as one fs-WORD span."""
    from signbridge.recognize.fingerspell import block_split, load_alphabet
    from signbridge.recognize.frames import frames_from_npy
    from signbridge.recognize.infer import recognize_frames
    from signbridge.recognize.synth import letter_shapes, spelled_sequence

    X, y, num = load_alphabet(shared_data / ALPHABET)
    held = block_split(y, num)
    shapes = letter_shapes(X[held], y[held])
    body = frames_from_npy(shared_data / NPY / val_rows[5]["file"])
    rng = np.random.default_rng(1)
    words = ["CAT", "JOHN", "ASL"]
    items = [(spelled_sequence(body, w, shapes, rng)[0], w, "") for w in words]
    tracks = recognize_frames(items, shipped, settings)
    got = [[s.label for s in t.spans] for t in tracks]
    assert got == [[f"fs-{w}"] for w in words]
    span = next(s for t in tracks for s in t.spans if s.kind == "fingerspelling")
    assert span.top_k[0].label == span.label


def test_a_lone_spelled_letter_is_unclear_unless_it_is_a_word(shared_data, val_rows, shipped, settings):
    """One or two letters are mostly a sign's hand shape read as letters: [unclear sign] with the letters kept
    in the top-k; a longer spelled word, or one or two letters that are a word (I, NO), is shown marked."""
    from signbridge.recognize.fingerspell import block_split, load_alphabet
    from signbridge.recognize.frames import frames_from_npy
    from signbridge.recognize.infer import recognize_frames
    from signbridge.recognize.synth import letter_shapes, spelled_sequence

    X, y, num = load_alphabet(shared_data / ALPHABET)
    held = block_split(y, num)
    shapes = letter_shapes(X[held], y[held])
    body = frames_from_npy(shared_data / NPY / val_rows[5]["file"])
    rng = np.random.default_rng(1)
    words = ("B", "I", "CAT", "QB", "NO")
    items = [(spelled_sequence(body, w, shapes, rng)[0], w, "") for w in words]
    spans = [t.spans for t in recognize_frames(items, shipped, settings)]
    read = {w: s for w, ss in zip(words, spans) for s in ss if s.top_k[0].label.startswith("fs-")}
    assert {"B", "I"} & set(read), spans
    if "B" in read:
        assert read["B"].label == UNKNOWN and read["B"].tier == "unclear" and read["B"].top_k[0].label == "fs-B"
    if "I" in read:
        assert read["I"].label == "fs-I" and read["I"].tier == "uncertain"
    assert read["CAT"].label == "fs-CAT" and read["CAT"].tier == "uncertain"
    # two letters: a word people spell (NO) is shown marked; any other pair (QB) is a sign's shape misread
    assert (read["NO"].label, read["NO"].tier) == ("fs-NO", "uncertain")
    assert (read["QB"].label, read["QB"].tier, read["QB"].top_k[0].label) == (UNKNOWN, "unclear", "fs-QB")


def test_real_gloss_clips_are_not_read_as_fingerspelling(val_tables, settings):
    """None of these real sign spans may be misread as spelling."""
    from signbridge.recognize import recognize_tables

    spans = [s for t in recognize_tables([t for t, _ in val_tables], settings) for s in t.spans]
    assert spans and [s.label for s in spans if s.kind == "fingerspelling"] == []


# --------------------------------------------------------------------------- bad input

def test_empty_table_is_a_schema_error(val_tables, settings):
    from signbridge.recognize import recognize_tables

    empty = val_tables[0][0].slice(0, 0)
    with pytest.raises(SchemaError, match="no frames") as e:
        recognize_tables([val_tables[1][0], empty], settings, sources=["good.parquet", "empty.parquet"])
    assert "empty.parquet" in str(e.value)


def test_no_hands_in_any_frame_gives_empty_track(val_tables, settings, caplog):
    from signbridge.recognize import recognize_table

    track = recognize_table(_without_hands(val_tables[0][0]), settings, source="nohands.parquet")
    assert track.spans == [] and track.to_dict()["spans"] == []
    assert "no hands detected" in caplog.text
    assert track.to_dict()["recognition"] == {"status": "no_signing_recognised",
                                              "reason": "no hands detected in any frame"}


def test_hands_at_rest_is_no_signing(val_tables, settings):
    """Hands visible but hanging below the torso the whole time: no signing, empty track."""
    from signbridge.recognize import recognize_table
    from signbridge.recognize.frames import frames_from_table, table_from_frames

    f = frames_from_table(val_tables[0][0])
    pose_ok = ~np.isnan(f.pose[:, 23, 1])
    hip_y = float(np.nanmedian(f.pose[pose_ok, 23, 1])) if pose_ok.any() else 1.2
    for hand in (f.left, f.right):
        hand[:] = np.nanmedian(np.concatenate([f.left, f.right])[~np.isnan(np.concatenate([f.left, f.right])[:, 0, 0])],
                               axis=0)
        hand[:, :, 1] += hip_y + 0.6 - hand[:, 0, 1].mean()  # well below the waist
    track = recognize_table(table_from_frames(f, contracts.read_landmarks_metadata(val_tables[0][0])), settings)
    assert track.spans == []
    assert (track.status, track.status_reason) == ("no_signing_recognised", "hands seen but no sign span found")


def test_a_brief_sign_still_gets_a_span(shared_data, val_rows, settings):
    """Activity shorter than the noise filter is still a span when it is all the video has (was: silent)."""
    from signbridge.recognize.frames import frames_from_npy
    from signbridge.recognize.segment import SegmentConfig, segment

    f = frames_from_npy(shared_data / NPY / val_rows[1]["file"])
    assert len(segment(f)) >= 1
    long_filter = SegmentConfig(min_span_ms=f.duration_ms + 1000)  # every run counts as "too short"
    spans = segment(f, long_filter)
    assert len(spans) == 1 and spans[0, 1] > spans[0, 0]


def test_wrong_schema_version_is_a_schema_error(val_tables, settings):
    from signbridge.recognize import recognize_table

    table = val_tables[0][0]
    meta = contracts.read_landmarks_metadata(table)
    bad = table.replace_schema_metadata({contracts.landmarks_metadata_key():
                                         json.dumps({**meta, "schema_version": "2.0"})})
    with pytest.raises(SchemaError, match="version 2.0"):
        recognize_table(bad, settings, source="v2.parquet")


@pytest.fixture
def ckpt_copy(tmp_path, shipped):
    dst = tmp_path / "ckpt"
    shutil.copytree(shipped.dir, dst)
    return dst


def test_checkpoint_of_another_vocabulary_is_a_model_error(ckpt_copy, val_tables, settings):
    from signbridge.recognize import recognize_table
    from signbridge.recognize.checkpoint import vocabulary_sha256

    cfg = json.loads((ckpt_copy / "config.json").read_text())
    labels = cfg["labels"] + ["teacher"]
    cfg.update(labels=labels, vocabulary_sha256=vocabulary_sha256(labels))
    (ckpt_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="another vocabulary"):
        recognize_table(val_tables[0][0], settings.replace(checkpoint=str(ckpt_copy)))
    # consistent label list and head size, but the exported graph has the other size
    cfg["model"]["n_classes"] = len(labels)
    (ckpt_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="another vocabulary"):
        recognize_table(val_tables[0][0], settings.replace(checkpoint=str(ckpt_copy)))
    # hand-edited labels without a matching hash
    cfg["labels"] = cfg["labels"][:-2] + ["x", "y"]
    (ckpt_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="does not match the vocabulary"):
        recognize_table(val_tables[0][0], settings.replace(checkpoint=str(ckpt_copy)))


def test_missing_checkpoint_is_a_model_error(tmp_path, val_tables, settings):
    from signbridge.recognize import recognize_table

    with pytest.raises(ModelError, match="not found"):
        recognize_table(val_tables[0][0], settings.replace(checkpoint=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        recognize_table(val_tables[0][0], settings.replace(checkpoint=str(tmp_path / "empty")))


def test_missing_or_mismatched_calibration_is_a_model_error(ckpt_copy, val_tables, settings):
    from signbridge.recognize import recognize_table

    s = settings.replace(checkpoint=str(ckpt_copy))
    cal_path = ckpt_copy / "calibration.json"
    cal = json.loads(cal_path.read_text())
    cal_path.unlink()
    with pytest.raises(ModelError, match="no calibration.json") as e:
        recognize_table(val_tables[0][0], s)
    assert "recalibrate" in str(e.value)
    cal_path.write_text(json.dumps({**cal, "weights_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="fitted for another model"):
        recognize_table(val_tables[0][0], s)
    cal_path.write_text(json.dumps({**cal, "thresholds": {"plain": 0.2, "shown": 0.5}}))
    with pytest.raises(ModelError, match="shown <= plain"):
        recognize_table(val_tables[0][0], s)
    cal_path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        recognize_table(val_tables[0][0], s)


def test_tiers_follow_the_calibration_file_not_code(ckpt_copy, val_tables, settings):
    """Moving the thresholds in calibration.json moves every span between the three tiers."""
    from signbridge.recognize import recognize_tables

    tables = [t for t, _ in val_tables]
    s = settings.replace(checkpoint=str(ckpt_copy))
    cal_path = ckpt_copy / "calibration.json"
    cal = json.loads(cal_path.read_text())
    for th, want in (({"plain": 0.0, "shown": 0.0}, {"plain"}), ({"plain": 1.0, "shown": 0.0}, {"uncertain"}),
                     ({"plain": 1.0, "shown": 1.0}, {"unclear"})):
        cal_path.write_text(json.dumps({**cal, "thresholds": th, "shown_classes": 2000}))
        tracks = recognize_tables(tables, s)
        tiers = {sp.tier for t in tracks for sp in t.spans if sp.kind != "fingerspelling"}
        assert tiers == want, (th, tiers)
        assert all(t.to_dict()["model"]["thresholds"] == th for t in tracks)


def test_same_sign_glosses_pool_into_one_word(ckpt_copy, val_tables, settings):
    """A group of calibration.json's same_signs shows one word with the group's whole probability; removing
    the groups splits it again; a group naming a gloss the model lacks is a clear error."""
    from signbridge.recognize.checkpoint import Recognizer

    cal_path = ckpt_copy / "calibration.json"
    cal = json.loads(cal_path.read_text())
    assert ["mother", "mom"] in cal["same_signs"] or ["mom", "mother"] in cal["same_signs"]
    rec = Recognizer(ckpt_copy, "cpu")
    labels = rec.labels
    frames_x = np.concatenate([rec.features(*_frames_and_spans(t)) for t, _ in val_tables])
    pooled, _ = rec.classify(frames_x)
    cal_path.write_text(json.dumps({**cal, "same_signs": []}))
    raw, _ = Recognizer(ckpt_copy, "cpu").classify(frames_x)
    assert np.allclose(pooled.sum(1), 1.0, atol=1e-5) and np.allclose(raw.sum(1), 1.0, atol=1e-5)
    for group in cal["same_signs"]:
        first, rest = labels.index(group[0]), [labels.index(g) for g in group[1:]]
        assert np.all(pooled[:, rest] == 0)
        assert np.allclose(pooled[:, first], raw[:, [first] + rest].sum(1), atol=1e-6)
    cal_path.write_text(json.dumps({**cal, "same_signs": [["mother", "no-such-gloss"]]}))
    with pytest.raises(ModelError, match="same-sign group"):
        Recognizer(ckpt_copy, "cpu")


def _frames_and_spans(table):
    from signbridge.recognize.frames import frames_from_table

    fr = frames_from_table(table)
    return fr, np.array([[fr.t_ms[0], fr.t_ms[-1]]], float)


def test_top_gloss_outside_the_shown_vocabulary_is_unclear(ckpt_copy, val_tables, settings):
    from signbridge.recognize import recognize_tables

    cal_path = ckpt_copy / "calibration.json"
    cal = json.loads(cal_path.read_text())
    cal_path.write_text(json.dumps({**cal, "thresholds": {"plain": 0.0, "shown": 0.0}, "shown_classes": 0}))
    tracks = recognize_tables([t for t, _ in val_tables], settings.replace(checkpoint=str(ckpt_copy)))
    spans = [sp for t in tracks for sp in t.spans if sp.kind != "fingerspelling"]
    assert spans and all(sp.label == UNKNOWN and sp.tier == "unclear" for sp in spans)


def test_device_auto_falls_back_to_cpu_and_bad_device_is_clear():
    import torch

    from signbridge.errors import ConfigError
    from signbridge.torch_device import torch_device

    assert torch_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            torch_device("cuda")


def test_model_card_matches_the_shipped_checkpoint(shipped, repo_root):
    """The card states the exact training command and every trained gloss with its training count."""
    card = (shipped.dir / "MODEL_CARD.md").read_text()
    assert (repo_root / "docs" / "model_card.md").read_text() == card
    cfg = shipped.config
    assert cfg["train"]["command"] in card
    vocab = card.split("## Vocabulary")[1].split("## Data")[0]
    n_shown = shipped.calibration["shown_classes"]
    listed = [g.strip() for g in vocab.split("\n\n")[2].split(",")]
    assert listed == shipped.labels[:n_shown]  # every shown gloss, in order
    th = shipped.thresholds
    assert f"`shown` = {th['shown']:.3f}" in card and f"{th['plain']:.3f}: tier `plain`" in " ".join(card.split())
    assert sum(f.stat().st_size for f in shipped.dir.iterdir()) < 6_000_000
