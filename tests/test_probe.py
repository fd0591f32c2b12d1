"""Probing lab, VLM side: a random-weight LLaVA built from a config runs the whole path on Sign-MNIST."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from signbridge.cli import main
from signbridge.errors import ConfigError, InputError, ModelError


@pytest.fixture(scope="module")
def mnist_csv(shared_data) -> Path:
    return shared_data / "sign_mnist_subset" / "sign_mnist_test_subset.csv"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from signbridge.probe.tiny import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny") / "llava-tiny", hidden=32, layers=2, image_size=28)


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_model, mnist_csv):
    """One CLI run over all 480 images, and a second identical run that must come from the cache."""
    home = tmp_path_factory.mktemp("home")
    out = home / "out"
    argv = ["probe", "vlm", "--model", str(tiny_model), "--images", str(mnist_csv), "--out", str(out),
            "--pooling", "last,mean", "--batch-size", "48", "--max-new-tokens", "3",
            "--repeats", "2", "--folds", "3", "--jobs", "1", "--home", str(home)]
    assert main(argv) == 0
    first = json.loads((out / "results.json").read_text())
    out2 = home / "out2"
    assert main([*argv[:argv.index("--out") + 1], str(out2), *argv[argv.index("--out") + 2:]]) == 0
    second = json.loads((out2 / "results.json").read_text())
    return {"home": home, "out": out, "out2": out2, "first": first, "second": second}


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_whole_path_writes_every_output(study):
    out, res = study["out"], study["first"]
    for name in ("curve.png", "curve.svg", "projection.png", "projection.svg", "layers.csv", "results.json",
                 "answers.csv", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "curve.svg").read_text()
    assert res["n_samples"] == 480 and res["n_classes"] == 24
    assert res["layers_probed"] == [0, 1, 2]  # embeddings + both decoder blocks: a dense sweep
    assert 1 / 24 < res["input_baseline"]["accuracy"] <= 1  # raw-pixel probe on the same splits
    rows = _rows(out / "layers.csv")
    assert {(r["pooling"], int(r["layer"])) for r in rows} == {(p, i) for p in ("last", "mean") for i in range(3)}
    html = (out / "report.html").read_text()
    assert "Latent versus generated" in html and "<svg" in html


def test_probe_numbers_behave(study):
    rows = {(r["pooling"], int(r["layer"])): r for r in _rows(study["out"] / "layers.csv")}
    chance = 1 / 24
    # layer 0, last token: the prompt's final token embedding is identical for every image -> nothing to read
    assert float(rows[("last", 0)]["accuracy"]) < 3 * chance
    # mean pooling includes the projected image features, which carry the picture even with random weights
    assert float(rows[("mean", 0)]["accuracy"]) > 4 * chance
    for r in rows.values():
        assert 0 <= float(r["ci_low"]) <= float(r["accuracy"]) <= float(r["ci_high"]) <= 1
        assert float(r["control"]) < 3 * chance  # shuffled labels cannot be learned from unique images
        assert abs(float(r["selectivity"]) - (float(r["accuracy"]) - float(r["control"]))) < 1e-5


def test_generated_answers_are_scored(study):
    res = study["first"]
    gen = res["generated"]
    assert gen["n"] == 480 and 0 <= gen["accuracy"] < 0.2  # random weights: about chance or below
    assert res["gap"] == pytest.approx(res["best"]["accuracy"] - gen["accuracy"])
    answers = _rows(study["out"] / "answers.csv")
    assert len(answers) == 480 and all(a["label"] for a in answers)
    assert sum(int(a["correct"]) for a in answers) == round(gen["accuracy"] * 480)


def test_second_run_reads_cache_and_matches(study):
    assert study["first"]["extraction"]["cached"] is False
    assert study["second"]["extraction"]["cached"] is True
    assert "forward_seconds" not in study["second"]["extraction"]
    assert _rows(study["out"] / "layers.csv") == _rows(study["out2"] / "layers.csv")
    files = sorted((study["home"] / "cache" / "probe").glob("*.npz"))
    assert [f.name.rsplit("-", 1)[1] for f in files] == ["last.npz", "mean.npz"]


def test_fit_reprobes_cached_activations_without_model(study, tmp_path):
    acts = study["first"]["extraction"]["activations"]
    answers = next((study["home"] / "cache" / "probe").glob("*-answers-*.json"))
    out = tmp_path / "refit"
    rc = main(["probe", "fit", acts["last"], acts["mean"], "--answers", str(answers), "--out", str(out),
               "--repeats", "2", "--folds", "3", "--jobs", "1", "--layers", "1,2", "--home", str(tmp_path)])
    assert rc == 0
    refit = {(r["pooling"], r["layer"]): r for r in _rows(out / "layers.csv")}
    orig = {(r["pooling"], r["layer"]): r for r in _rows(study["out"] / "layers.csv")}
    assert set(refit) == {(p, str(i)) for p in ("last", "mean") for i in (1, 2)}
    for k, r in refit.items():
        assert r["accuracy"] == orig[k]["accuracy"]
    assert json.loads((out / "results.json").read_text())["generated"]["n"] == 480


def test_hooks_match_hidden_states(tiny_model, mnist_csv):
    """Slot k of the recorder equals transformers' hidden_states[k] (last slot: before the final norm)."""
    import torch

    from signbridge.probe.data import load_images
    from signbridge.probe.hooks import LayerRecorder
    from signbridge.probe.vlm import _to_pil, build_prompt, decoder_layers, load_vlm

    vlm = load_vlm(tiny_model, "cpu")
    imgs = [_to_pil(i, None) for i in load_images(mnist_csv).items[:5]]
    inputs = vlm.processor(images=imgs, text=[build_prompt(vlm.processor, "Which letter?")] * 5,
                           return_tensors="pt", padding=True)
    with LayerRecorder(decoder_layers(vlm.model), ("last", "mean")) as rec, torch.inference_mode():
        rec.arm(inputs["attention_mask"])
        out = vlm.model(**inputs, output_hidden_states=True)
        got = rec.collect()
    hs = out.hidden_states
    assert got["last"].shape == (3, 5, 32)
    for k in range(2):
        np.testing.assert_allclose(got["last"][k], hs[k][:, -1].numpy(), atol=1e-5)
        np.testing.assert_allclose(got["mean"][k], hs[k].mean(1).numpy(), atol=1e-5)
    with torch.no_grad():
        normed = vlm.model.model.language_model.norm(torch.from_numpy(got["last"][2]))
    np.testing.assert_allclose(normed.numpy(), hs[2][:, -1].numpy(), atol=1e-4)


@pytest.mark.parametrize("answer,letter", [
    ("B", "B"), ("b.", "B"), ("The letter is b.", "B"), ('"C"', "C"), ("letter B in ASL", "B"),
    ("B. The hand shape", "B"), ("peace sign", None), ("fist", None), ("A hand", None),
    ("This letter is a peace sign", None), ("I think so", None),
])
def test_parse_letter(answer, letter):
    from signbridge.probe.vlm import parse_letter

    assert parse_letter(answer) == letter


def test_probes_separate_signal_from_control():
    """Grouped splits on synthetic data: a linear signal is found, shuffled labels are not, groups never straddle."""
    from signbridge.probe.probes import make_splits, probe_all

    rng = np.random.default_rng(0)
    n_cls, per_group, groups_per_cls = 4, 5, 4
    y = np.repeat(np.arange(n_cls), per_group * groups_per_cls).astype(str)
    g = np.repeat(np.arange(n_cls * groups_per_cls), per_group).astype(str)
    means = rng.normal(size=(n_cls, 16)) * 3
    signal = means[y.astype(int)] + rng.normal(size=(len(y), 16))
    noise = rng.normal(size=(len(y), 16))
    res = probe_all({"mean": np.stack([noise, signal])}, [0, 1], y, g, repeats=3, folds=4, jobs=1)
    by = {s.layer: s for s in res.scores}
    assert by[1].accuracy > 0.9 and by[1].selectivity > 0.5
    assert by[0].accuracy < 0.5 and by[1].control < 0.5
    assert res.best().layer == 1
    for rep in make_splits(y, g, 2, 4):
        for tr, te in rep:
            assert not set(g[tr]) & set(g[te])


# -- bad input: one clear error naming the file, or the bad sample skipped and listed ---------------------------

def test_missing_images_file_is_reported(tmp_path, tiny_model, capsys):
    rc = main(["probe", "vlm", "--model", str(tiny_model), "--images", str(tmp_path / "nope.csv"),
               "--out", str(tmp_path / "o"), "--home", str(tmp_path)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "nope.csv" in err and "does not exist" in err


def test_csv_with_wrong_header_is_rejected(tmp_path):
    from signbridge.probe.data import load_images

    bad = tmp_path / "bad.csv"
    bad.write_text("letter,a,b,c,d\nA,1,2,3,4\n")
    with pytest.raises(InputError, match="header"):
        load_images(bad)


def test_bad_rows_are_skipped_and_listed(tmp_path, mnist_csv):
    from signbridge.probe.data import load_images

    lines = mnist_csv.read_text().splitlines()[:4]
    cells = lines[2].split(",")
    lines.append(",".join(["9"] + cells[1:]))  # J does not exist in Sign-MNIST
    lines.append(",".join([cells[0], "300"] + cells[2:]))  # pixel out of range
    lines.append("3,1,2")  # truncated row
    f = tmp_path / "mixed.csv"
    f.write_text("\n".join(lines) + "\n")
    ds = load_images(f)
    assert len(ds) == 3
    reasons = " ".join(r for _, r in ds.skipped)
    assert len(ds.skipped) == 3 and "0-24" in reasons and "0-255" in reasons and "columns" in reasons


def test_image_folder_skips_corrupt_file_and_needs_two_labels(tmp_path):
    from PIL import Image

    from signbridge.probe.data import load_images

    for lab in ("A", "B"):
        (tmp_path / lab).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(tmp_path / lab / f"{i}.png")
    (tmp_path / "A" / "broken.png").write_bytes(b"not a png")
    ds = load_images(tmp_path)
    assert len(ds) == 4 and ds.skipped[0][0] == "A/broken.png"
    shutil.rmtree(tmp_path / "B")
    with pytest.raises(InputError, match="at least 2 labels"):
        load_images(tmp_path).check_probeable()


def test_model_folder_without_config(tmp_path):
    from signbridge.probe.vlm import load_vlm

    with pytest.raises(ModelError, match="config.json"):
        load_vlm(tmp_path, "cpu")
    with pytest.raises(ModelError, match="not a folder"):
        load_vlm(tmp_path / "missing", "cpu")


def test_4bit_without_bitsandbytes_or_gpu(tiny_model):
    from signbridge.probe.vlm import load_vlm

    with pytest.raises(ConfigError, match="bitsandbytes|CUDA"):
        load_vlm(tiny_model, "cpu", load_in_4bit=True)


def test_unknown_layer_and_bad_activation_file(study, tmp_path, capsys):
    acts = study["first"]["extraction"]["activations"]["last"]
    rc = main(["probe", "fit", acts, "--layers", "7", "--out", str(tmp_path / "o"), "--home", str(tmp_path)])
    assert rc == 1 and "layers [7] do not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    rc = main(["probe", "fit", str(junk), "--out", str(tmp_path / "o"), "--home", str(tmp_path)])
    assert rc == 1 and "junk.npz" in capsys.readouterr().err


def test_video_frames_are_grouped_per_clip(shared_data, tmp_path):
    from signbridge.probe.data import load_video_frames

    clips = shared_data / "wlasl_clips"
    rows = list(csv.DictReader((clips / "labels.csv").open()))[:2]
    man = tmp_path / "videos.csv"
    with man.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        for r in rows:
            w.writerow([str(clips / r["file"]), r["gloss"]])
        w.writerow([str(tmp_path / "missing.mp4"), "x"])
    ds = load_video_frames(man, frames_per_video=2, max_side=64)
    assert len(ds) == 4 and max(max(i.shape[:2]) for i in ds.items) <= 64
    assert len(set(ds.groups.tolist())) == 2 and ds.skipped[0][0].endswith("missing.mp4")
