"""The WLASL-scale hands model: slot canonicalisation, hands-only features, calibration and training entry."""
from __future__ import annotations

import json

import numpy as np
import pytest

from signbridge.errors import InputError, ModelError

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

HANDS = "wlasl_hands_mediapipe"


@pytest.fixture(scope="module")
def wlasl_seqs(shared_data):
    """A few real MediaPipe Hands sequences (detection-order slots) with their glosses."""
    import csv

    with open(shared_data / HANDS / "index.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["shard"] == "hands_00.npz"][:40]
    frames = np.load(shared_data / HANDS / "hands_00.npz")["frames"]
    return [(frames[int(r["start"]):int(r["start"]) + int(r["n_frames"])].astype(np.float32), r) for r in rows]


def test_canonical_slots_put_the_image_left_hand_in_the_right_slot(wlasl_seqs):
    from signbridge.recognize.hands import canonical_slots

    for seq, _ in wlasl_seqs:
        out = canonical_slots(seq)
        both = ~np.isnan(out[:, 0, 0, 0]) & ~np.isnan(out[:, 1, 0, 0])
        assert np.all(out[both, 0, 0, 0] >= out[both, 1, 0, 0])  # signer's left hand = larger image x
        # no hand is lost or invented: the same number of detections per frame
        assert np.array_equal((~np.isnan(out[:, :, 0, 0])).sum(1), (~np.isnan(seq[:, :, 0, 0])).sum(1))
    swapped = wlasl_seqs[0][0][:, ::-1]
    assert np.array_equal(canonical_slots(swapped), canonical_slots(wlasl_seqs[0][0]), equal_nan=True)


def test_hand_features_see_a_left_handed_signer_like_a_right_handed_one(wlasl_seqs):
    from signbridge.recognize.hands import HandFeatureConfig, hand_features, mirror_hands, sample_hands
    from signbridge.recognize.wlasl_hands import hand_extent, sequence_frames

    fr = sequence_frames(wlasl_seqs[3][0])
    h = sample_hands(fr, hand_extent(fr), 24)
    x, xm = hand_features(h), hand_features(mirror_hands(h))
    assert x.shape == (1, 24, HandFeatureConfig().n_features) and np.isfinite(x).all()
    assert np.allclose(x, xm, atol=1e-5)
    none = np.full((2, 24, 2, 21, 3), np.nan, np.float32)
    assert np.array_equal(hand_features(none), np.zeros((2, 24, HandFeatureConfig().n_features), np.float32))


def test_thresholds_are_the_lowest_confidence_that_keeps_shown_words_precise():
    from signbridge.recognize import openset

    rng = np.random.default_rng(0)
    conf = np.sort(rng.uniform(0.2, 1.0, 600))[::-1]
    right = rng.random(600) < np.linspace(1.0, 0.2, 600)  # confident clips are more often right
    out = rng.uniform(0.0, 0.9, 600) ** 2  # out-of-vocabulary clips: wrong whenever shown
    th = openset.choose(conf, right, out)

    def precision(t):  # in and out weigh half each
        a = (right & (conf >= t)).mean() * 0.5
        return a / ((conf >= t).mean() * 0.5 + (out >= t).mean() * 0.5)

    assert precision(th["plain"]) >= 0.9 and precision(th["shown"]) >= 0.7 and th["shown"] <= th["plain"]
    lower = conf[conf < th["shown"]].max()
    assert precision(lower) < 0.7  # the next lower cut-off would miss the target
    # plain words need 90 % at the lower confidence bound, a stricter cut-off than the point estimate's
    w = np.ones(1200)
    both, ok = np.r_[conf, out], np.r_[right, np.zeros(600, bool)]
    point = openset.lowest_threshold(both, ok, w, 0.9)
    assert point < 1.0 and precision(point) >= 0.9
    assert 1.0 > th["plain"] > point
    lucky = np.r_[np.full(4, 0.99), np.full(40, 0.5)]  # four right at the top, then a coin toss
    lucky_ok = np.r_[np.ones(4, bool), np.arange(40) % 2 == 0]
    assert openset.lowest_threshold(lucky, lucky_ok, np.ones(44), 0.9, min_support=4) == 0.99
    assert openset.lowest_threshold(lucky, lucky_ok, np.ones(44), 0.9, min_support=4, z=1.645) == 1.0
    assert openset.tier_of(th["plain"], th) == "plain" and openset.tier_of(0.0, th) == "unclear"
    never = openset.choose(conf, np.zeros(600, bool), out)
    assert never == {"plain": 1.0, "shown": 1.0}  # no cut-off reaches the targets: nothing is shown
    assert openset.auroc(np.array([0.9, 0.8]), np.array([0.1, 0.8])) == pytest.approx(0.875)


def test_same_sign_representatives_and_words():
    from signbridge.recognize.same_signs import groups_for, pool, representatives, word_for

    vocab = ["mother", "sick", "book", "mom", "ill", "cop"]
    groups = groups_for(vocab, (("mom", "mother"), ("ill", "sick"), ("cop", "police"), ("x", "y")))
    assert groups == [["mother", "mom"], ["sick", "ill"]]  # vocabulary order; one-gloss groups dropped
    rep = representatives(vocab, groups)
    assert rep.tolist() == [0, 1, 2, 0, 1, 5]
    p = np.array([[0.1, 0.2, 0.3, 0.25, 0.05, 0.1, 0.0]])  # a 7th column: a few-shot gloss, untouched
    assert np.allclose(pool(p, rep), [[0.35, 0.25, 0.3, 0.0, 0.0, 0.1, 0.0]])
    assert word_for("mom", vocab) == "mother" and word_for("police", vocab) == "cop"
    assert word_for("book", vocab) == "book" and word_for("zebra", vocab) == "zebra"


def test_shipped_calibration_matches_its_model_and_reports_held_out_numbers():
    from signbridge.recognize.checkpoint import read_config, shipped_dir
    from signbridge.recognize.openset import read_calibration

    cfg = read_config(shipped_dir())
    cal = read_calibration(shipped_dir(), cfg)
    assert cfg["features"]["kind"] == "hands" and len(cfg["labels"]) >= 300
    assert cal["shown_classes"] >= 300 and 0 <= cal["thresholds"]["shown"] <= cal["thresholds"]["plain"] <= 1
    held = cal["held_out"]
    if held["plain"]["n_shown_in"]:  # plain words exist only where held-out precision reached the target
        assert held["plain"]["precision_half_oov"] >= 0.85
    assert cal["fingerspelling"]["tier"] == "uncertain"
    assert cal["targets"]["plain_bound_z"] > 0 and all(set(g) <= set(cfg["labels"]) for g in cal["same_signs"])


def test_train_hands_pack_train_calibrate_on_a_small_subset(shared_data, tmp_path):
    """The model card's command, end to end on a few optimiser steps (CPU, seeded)."""
    from signbridge.recognize.checkpoint import Recognizer
    from signbridge.recognize.train_hands import HandsTrainConfig, load_packed, main, train
    from signbridge.recognize.wlasl_hands import pack

    packed = tmp_path / "p.npz"
    pack(shared_data / HANDS, packed, 24)
    data = load_packed(packed)
    assert data["hands"].shape[1:] == (24, 2, 21, 3) and set(data["split"]) == {"train", "val", "test"}
    out = tmp_path / "ck"
    assert main(["train", "--packed", str(packed), "--out", str(out), "--vocab", "100", "--negatives", "100",
                 "--max-steps", "2", "--seed", "0"]) == 0
    assert main(["calibrate", "--packed", str(packed), "--out", str(out), "--shown", "50"]) == 0
    rec = Recognizer(out, "cpu")
    assert len(rec.labels) == 100 and rec.calibration["shown_classes"] == 50
    assert json.loads((out / "config.json").read_text())["train"]["negatives"] == [100, 200]
    # signer-disjoint calibration: two fold models, each trained without one fold of signers
    folds = [tmp_path / f"fold{i}" for i in range(2)]
    for i, f in enumerate(folds):
        assert main(["train", "--packed", str(packed), "--out", str(f), "--vocab", "100", "--negatives", "100",
                     "--max-steps", "2", "--seed", "0", "--signer-fold", f"{i}/2"]) == 0
    seen_only = rec.calibration["thresholds"]
    assert main(["calibrate", "--packed", str(packed), "--out", str(out), "--shown", "50",
                 "--fold-models", ",".join(map(str, folds))]) == 0
    cal = json.loads((out / "calibration.json").read_text())
    sd = cal["signer_disjoint"]
    assert [f["signer_fold"] for f in sd["folds"]] == [[0, 2], [1, 2]]
    assert sd["seen_signer_thresholds"] == seen_only
    assert all(cal["thresholds"][k] == max(seen_only[k], sd["unseen_signer_thresholds"][k]) for k in seen_only)
    from signbridge.recognize.signer_folds import fold_of

    known = (data["cls"] < 50) & (data["split"] != "test") & (fold_of(data["signer"], 2) >= 0)
    assert sd["sets"]["ood_in"] == int(known.sum())  # each known signer's train/val clip once, by the model
    # that never saw that signer
    assert sd["unseen_signer_test"]["n_in"] > 0 and cal["fitted_on"]["rule"]
    with pytest.raises(ModelError, match="not a fold model"):
        main(["calibrate", "--packed", str(packed), "--out", str(out), "--shown", "50", "--fold-models", str(out)])
    with pytest.raises(ModelError, match="folds 0..k-1"):
        main(["calibrate", "--packed", str(packed), "--out", str(out), "--shown", "50", "--fold-models", str(folds[0])])
    # seeded: the same steps give the same weights on CPU
    cfg = HandsTrainConfig(vocab=20, negatives=(20, 40), max_steps=2, d_model=32, seed=3)
    a, _ = train(data, cfg, "cpu", log_fn=lambda m: None)
    b, _ = train(data, cfg, "cpu", log_fn=lambda m: None)
    assert all(np.array_equal(p.detach().numpy(), q.detach().numpy()) for p, q in zip(a.parameters(), b.parameters()))
    # hand feature version 2 (the location channel): trained, calibrated and run like version 1
    loc = tmp_path / "loc"
    assert main(["train", "--packed", str(packed), "--out", str(loc), "--vocab", "100", "--max-steps", "2",
                 "--features", "2"]) == 0
    assert main(["calibrate", "--packed", str(packed), "--out", str(loc), "--shown", "50"]) == 0
    rec2 = Recognizer(loc, "cpu")
    assert rec2.feature_cfg.version == "2" and rec2.config["model"]["n_features"] == 142
    from signbridge.recognize.frames import frames_from_npy

    f = frames_from_npy(shared_data / "wlasl_holistic_landmarks_npy" / "landmarks" / "17709.npy")
    span = np.array([[f.t_ms[0], f.t_ms[-1] + 40.0]])
    x, x1 = rec2.features(f, span), rec.features(f, span)
    assert x.shape == (1, 24, 142) and np.array_equal(x[..., :138], x1) and rec2.classify(x)[0].shape == (1, 100)
    nose_lower = f.pose.copy()
    nose_lower[:, 0, 1] += 0.1  # the nose (the body reference at inference) moves, the hands stay
    from dataclasses import replace

    assert not np.allclose(rec2.features(replace(f, pose=nose_lower), span)[..., 138:], x[..., 138:])
    cfg2 = json.loads((loc / "config.json").read_text())
    cfg2["features"]["version"] = "9"
    (loc / "config.json").write_text(json.dumps(cfg2))
    with pytest.raises(ModelError, match="hand feature version '9'"):
        Recognizer(loc, "cpu")


def test_signer_folds_are_fixed_disjoint_and_keep_their_clips_out_of_training():
    from signbridge.recognize.signer_folds import fold_of, parse_fold
    from signbridge.recognize.train_hands import HandsTrainConfig, split_indices

    signers = np.array([5, 7, -1, 5, 9, 11, 7, 13, -1, 2])
    f = fold_of(signers, 3)
    assert np.array_equal(f, fold_of(signers, 3)) and f[2] == f[8] == -1 and f[0] == f[3] and f[1] == f[6]
    assert set(f[signers >= 0]) <= {0, 1, 2} and len(set(f[signers >= 0])) == 3
    # a signer's fold does not depend on which other clips are present
    assert fold_of(signers[:4], 3)[0] != -1 and all(fold_of(np.array([s]), 3)[0] == fold_of(signers, 3)[i]
                                                   for i, s in enumerate(signers) if s >= 0)
    for bad in ("1", "3/3", "a/b", "0/1"):
        with pytest.raises(ValueError, match="signer fold"):
            parse_fold(bad)
    n = 12
    data = {"cls": np.arange(n) % 3, "split": np.array(["train", "val"] * (n // 2)), "signer": np.arange(n) - 2}
    held = fold_of(data["signer"], 2) == 1
    idx = split_indices(data, HandsTrainConfig(vocab=3, negatives=(3, 3), signer_fold=(1, 2)))
    assert not held[idx["train"]].any() and not held[idx["val"]].any() and held.any()
    assert len(idx["train"]) + len(idx["val"]) == int((~held).sum())  # unknown signers (-2, -1) stay in


def test_bad_packed_file_is_a_clear_error(tmp_path):
    from signbridge.recognize.train_hands import load_packed

    bad = tmp_path / "x.npz"
    np.savez(bad, hands=np.zeros(1))
    with pytest.raises(InputError, match="not a packed WLASL hands file"):
        load_packed(bad)
