"""Hand feature version "2": where the hands are, relative to the nose (issue #23's location channel)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

NPY = "wlasl_holistic_landmarks_npy"


@pytest.fixture(scope="module")
def holistic_clip(shared_data):
    """A real WLASL clip through Holistic: pose (with the nose) and hands, image-normalised."""
    from signbridge.recognize.frames import frames_from_npy

    f = frames_from_npy(shared_data / NPY / "landmarks" / "17709.npy")  # DRINK: the hand comes to the mouth
    return f, np.array([[f.t_ms[0], f.t_ms[-1] + 40.0]])


def test_location_channel_is_where_the_hands_are_relative_to_the_nose(holistic_clip):
    from signbridge.recognize.hands import FRAME_NOSE, HandFeatureConfig, hand_features, nose_anchor, sample_hands

    f, span = holistic_clip
    h = sample_hands(f, span, 24)
    nose = nose_anchor(f, span)
    v1, v2 = hand_features(h), hand_features(h, "2", nose)
    assert v1.shape[-1] == HandFeatureConfig().n_features == 138  # the shipped model's features, unchanged
    assert v2.shape[-1] == HandFeatureConfig(version="2").n_features == 142
    assert np.array_equal(v2[..., :138], v1) and np.array_equal(HandFeatureConfig(version="2").features(h, nose), v2)
    # DRINK is made at the mouth: the dominant wrist rises by over 2 palm lengths to within 2.5 below the nose
    # (the last 4 features are the wrists' x, y from the nose in units of 4 palm lengths)
    seen = v2[0, :, 135] > 0  # presence of the dominant (right-slot) hand: 126 shape, 4 pos, 4 speed, 2 seen
    y = v2[0, seen, 141]
    assert y[0] - y.min() > 2 / 4 and 0 < y.min() < 2.5 / 4
    # the same signing framed elsewhere (camera further left, signer lower): with the nose seen nothing
    # changes; from the framing guess alone (the training data's case) the location moves with the picture
    d = np.array([0.05, 0.1], np.float32)
    moved = replace(f, pose=f.pose + np.r_[d, 0, 0].astype(np.float32),
                    left=f.left + np.r_[d, 0].astype(np.float32), right=f.right + np.r_[d, 0].astype(np.float32))
    hm = sample_hands(moved, span, 24)
    assert np.allclose(hand_features(hm, "2", nose_anchor(moved, span)), v2, atol=1e-5)
    guessed = hand_features(hm, "2")
    assert np.allclose(guessed[..., :138], v1, atol=1e-5) and not np.allclose(guessed[..., 138:], v2[..., 138:],
                                                                               atol=1e-2)
    assert np.array_equal(hand_features(hm, "2", np.full((1, 2), np.nan)), guessed)  # no nose: the guess
    assert np.array_equal(hand_features(hm, "2", np.array([FRAME_NOSE])), guessed)
    with pytest.raises(ValueError, match="version"):
        hand_features(h, "3")


def test_nose_anchor_is_the_spans_median_nose_or_the_videos(holistic_clip):
    from signbridge.recognize.hands import nose_anchor

    f, span = holistic_clip
    nose = f.pose[:, 0, :2]
    ok = ~np.isnan(nose[:, 0])
    assert np.allclose(nose_anchor(f, span)[0], np.median(nose[ok], axis=0))
    first = np.array([[f.t_ms[0], f.t_ms[10]]])  # frames 0-9 only
    assert np.allclose(nose_anchor(f, first)[0], np.median(nose[:10][ok[:10]], axis=0))
    blind = f.pose.copy()
    blind[:10] = np.nan  # no pose in the span: the video's median
    assert np.allclose(nose_anchor(replace(f, pose=blind), first)[0], np.median(nose[10:][ok[10:]], axis=0))
    assert np.isnan(nose_anchor(replace(f, pose=np.full_like(f.pose, np.nan)), np.r_[span, first])).all()
