"""Probing lab, recogniser side: hooks on the shipped float checkpoint, real alphabet and WLASL landmarks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from signbridge.cli import main
from signbridge.errors import InputError, ModelError


@pytest.fixture(scope="module")
def alphabet(shared_data) -> Path:
    return shared_data / "asl_alphabet_hand_landmarks" / "asl_alphabet_hand_landmarks.npz"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("probe_rec_home")


def _shipped_config() -> dict:
    from signbridge.probe.recognizer import load_float

    return load_float(None)[2]


def _run(home: Path, out: Path, *args: str) -> dict:
    rc = main(["probe", "recognizer", *args, "--out", str(out), "--repeats", "2", "--folds", "3", "--jobs", "1",
               "--home", str(home)])
    assert rc == 0
    return json.loads((out / "results.json").read_text())


def test_sign_encoder_on_alphabet_gives_a_real_curve(alphabet, home):
    res = _run(home, home / "sign_alpha", "--part", "sign", "--alphabet", str(alphabet), "--per-class", "8")
    assert res["n_classes"] == 26 and res["n_samples"] == 208 and res["grouped"] is True
    n_blocks = _shipped_config()["model"]["n_layers"]
    assert res["layers_probed"] == list(range(n_blocks + 2))  # input, each encoder block, embedding
    chance = 1 / 26
    assert res["best"]["accuracy"] > 8 * chance  # hand shape survives into the word encoder
    assert all(row["control"] < 4 * chance for row in res["layers"])
    assert "generated" not in res  # letters are not in the sign vocabulary: no own answer to score
    assert res["input_baseline"]["accuracy"] > 4 * chance  # raw landmarks, same splits
    assert (home / "sign_alpha" / "curve.svg").is_file()


def test_letter_mlp_ragged_layers_and_own_answers(alphabet, home):
    res = _run(home, home / "letters", "--part", "letters", "--alphabet", str(alphabet), "--heldout-only",
               "--per-class", "6")
    assert res["layers_probed"] == [0, 1, 2, 3]  # input features (273), two hidden (256), logits (26)
    # frames the letter classifier never trained on; its own top-1 should still be mostly right
    assert res["generated"]["accuracy"] > 0.8
    logits = next(r for r in res["layers"] if r["layer"] == 3)
    assert logits["accuracy"] > 0.6


def test_wlasl_sequences_grouped_by_signer(shared_data, home):
    res = _run(home, home / "wlasl", "--part", "sign", "--wlasl", str(shared_data / "wlasl_holistic_landmarks_npy"),
               "--min-per-class", "9")
    assert res["grouped"] and res["n_classes"] >= 5
    assert res["generated"]["accuracy"] > 2 * res["chance"]  # its own labels are comparable here
    assert "trained on" in res["extraction"]["training_overlap"]


def test_hooks_on_recogniser_match_a_manual_forward(alphabet):
    import torch

    from signbridge.probe.hooks import LayerRecorder
    from signbridge.probe.recognizer import _sign_features, load_alphabet_set, load_float, sign_layers

    model, _, cfg, _ = load_float(None)
    data = load_alphabet_set(alphabet, per_class=1)
    x = torch.as_tensor(_sign_features(data, cfg))
    enc = model.encoder
    with LayerRecorder(sign_layers(model), ("mean",)) as rec, torch.no_grad():
        rec.arm(torch.ones(x.shape[:2], dtype=torch.bool))
        _, emb = model(x)
        got = rec.collect()["mean"]
        h0 = enc.inp(x) + enc.pos
        h_last = enc.enc(h0)
    n = cfg["model"]["n_layers"]
    np.testing.assert_allclose(got[0], h0.mean(1).numpy(), atol=1e-5)
    np.testing.assert_allclose(got[n], h_last.mean(1).numpy(), atol=1e-4)
    np.testing.assert_allclose(torch.nn.functional.normalize(torch.as_tensor(got[n + 1]), dim=-1).numpy(),
                               emb.numpy(), atol=1e-5)


def test_bad_recogniser_inputs(tmp_path, alphabet, capsys):
    from signbridge.probe.recognizer import load_float, load_wlasl_set, recognizer_activations, load_alphabet_set

    rc = main(["probe", "recognizer", "--wlasl", str(tmp_path), "--out", str(tmp_path / "o"), "--home", str(tmp_path)])
    assert rc == 1 and "labels.csv" in capsys.readouterr().err
    with pytest.raises(ModelError, match="config.json"):
        load_float(tmp_path)
    (tmp_path / "labels.csv").write_text("file,gloss\nmissing.npy,hello\nmissing2.npy,hello\n")
    with pytest.raises(InputError, match="readable"):
        load_wlasl_set(tmp_path, min_per_class=1)
    with pytest.raises(InputError, match="alphabet"):
        wl = load_wlasl_set(alphabet.parent.parent / "wlasl_holistic_landmarks_npy", min_per_class=16)
        recognizer_activations("letters", wl)
    with pytest.raises(InputError, match="not an ASL-alphabet"):
        bad = tmp_path / "bad.npz"
        np.savez(bad, X=np.zeros((2, 21, 3)))
        load_alphabet_set(bad)
