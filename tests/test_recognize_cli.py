"""Training smoke run, dataset readers, and the recognize / eval / vocab commands end to end."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from signbridge.cli import main
from signbridge.errors import InputError, ModelError
from signbridge.settings import load_settings

pytestmark = [pytest.mark.data, pytest.mark.usefixtures("one_torch_thread")]



NPY = "wlasl_holistic_landmarks_npy"
ALPHABET = "asl_alphabet_hand_landmarks/asl_alphabet_hand_landmarks.npz"
KAGGLE = "islr_kaggle_asl_signs_subset"
CLIP = "wlasl_clips/49092.mp4"  # SALARY (WLASL class 1918), 1.7 s, 288 px: never trained on


@pytest.fixture(scope="module")
def rows(shared_data):
    with open(shared_data / NPY / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory, shared_data, rows):
    """A few WLASL sequences written as our Parquet dataset (labels.csv + contract files)."""
    from signbridge.recognize.frames import npy_to_table

    d = tmp_path_factory.mktemp("pq")
    picked = [r for g in ("drink", "go", "yes", "no") for r in rows if r["gloss"] == g][:0] or \
        [r for g in ("drink", "go", "yes", "no") for r in [x for x in rows if x["gloss"] == g][:4]]
    with open(d / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "gloss", "signer_id", "split"])
        for r in picked:
            name = f"{r['video_id']}.parquet"
            pq.write_table(npy_to_table(shared_data / NPY / r["file"]), d / name)
            w.writerow([name, r["gloss"], r["signer_id"], r["split"]])
    return d


def _train_tiny(out, parquet_dir, shared_data):
    rc = main(["train", "--data", f"parquet:{parquet_dir}", "--letters", str(shared_data / ALPHABET), "-o", str(out),
               "--epochs", "2", "--max-steps", "3", "--d-model", "32", "--layers", "1", "--steps", "16",
               "--threads", "1"])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, parquet_dir, shared_data):
    """A checkpoint from a few optimiser steps (never the shipped one)."""
    return _train_tiny(tmp_path_factory.mktemp("ckpt") / "tiny", parquet_dir, shared_data)


def test_training_twice_with_one_seed_exports_identical_models(tiny_ckpt, parquet_dir, shared_data, tmp_path):
    """What the card's "reproducible by its command" rests on: same data, seed and flags give the same tensors."""
    import torch

    again = _train_tiny(tmp_path / "again", parquet_dir, shared_data)
    def tensors(d, name):
        if name.endswith(".ts"):  # the exported TorchScript models recognition runs
            return dict(torch.jit.load(str(d / name), map_location="cpu").state_dict())
        return torch.load(d / name, map_location="cpu")  # the float weights training resumes from

    for name in ("model.ts", "letters.ts", "weights.pt", "letters.pt"):
        a, b = tensors(tiny_ckpt, name), tensors(again, name)
        assert a.keys() == b.keys() and a
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}: {key} differs between two runs with seed 0"
    ca, cb = (json.loads((d / "config.json").read_text()) for d in (tiny_ckpt, again))
    assert ca["metrics"] == cb["metrics"] and ca["calibration"] == cb["calibration"]


def test_training_reduces_loss_on_a_small_subset(parquet_dir):
    from signbridge.recognize.datasets import load_dataset
    from signbridge.recognize.features import FeatureConfig
    from signbridge.recognize.model import ModelConfig
    from signbridge.recognize.train import TrainConfig, train_signs

    samples = load_dataset(f"parquet:{parquet_dir}")
    labels = sorted({s.label for s in samples})
    fc = FeatureConfig(n_steps=16)
    mc = ModelConfig(n_features=fc.n_features, n_classes=len(labels), n_steps=16, d_model=32, n_layers=1)
    _, hist = train_signs(samples, labels, fc, mc, TrainConfig(epochs=12, batch_size=8, lr=3e-3), log_fn=None)
    assert hist[-1]["loss"] < 0.8 * hist[0]["loss"], hist


def test_train_writes_a_checkpoint_whose_export_matches_the_float_model(tiny_ckpt, parquet_dir):
    import torch

    from signbridge.recognize.checkpoint import Recognizer, load_float_models
    from signbridge.recognize.datasets import load_dataset
    from signbridge.recognize.train import features_plain

    cfg = json.loads((tiny_ckpt / "config.json").read_text())
    assert cfg["labels"] == ["drink", "go", "no", "yes"]
    assert cfg["train"]["seed"] == 0 and "--max-steps" in cfg["train"]["command"]
    rec = Recognizer(tiny_ckpt, "cpu")
    model, _, _ = load_float_models(tiny_ckpt)
    x = features_plain(load_dataset(f"parquet:{parquet_dir}")[:5], rec.feature_cfg)
    probs, emb = rec.classify(x, batch_size=2)
    with torch.inference_mode():
        logits, emb2 = model(torch.as_tensor(x))
    np.testing.assert_allclose(probs, torch.softmax(logits / rec.temperature, -1).numpy(), atol=1e-5)
    cal = json.loads((tiny_ckpt / "calibration.json").read_text())  # training writes the tier thresholds
    assert cal["weights_sha256"] == cfg["weights_sha256"] and cal["shown_classes"] == len(cfg["labels"])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_resume_with_another_vocabulary_is_refused(tiny_ckpt, shared_data, tmp_path):
    with pytest.raises(ModelError, match="vocabulary differs"):
        from signbridge.recognize.train import run_training

        run_training([f"npy:{shared_data / NPY}"], None, str(tmp_path / "x"), resume=str(tiny_ckpt), epochs=1,
                     max_steps=1, log_fn=lambda m: None)


def test_kaggle_reader_maps_long_format_to_parts(shared_data):
    from signbridge.recognize.datasets import load_dataset
    from signbridge.recognize.train import normalise_label

    samples = load_dataset(f"kaggle:{shared_data / KAGGLE}")
    assert len(samples) == 84 and {normalise_label(s.label) for s in samples} == {"hello", "thank you"}
    signers = {s.split: set() for s in samples}
    for s in samples:
        signers[s.split].add(s.signer)
    assert signers["train"].isdisjoint(signers["val"])  # signer-disjoint split
    f = samples[0].frames
    assert f.face is not None and f.face.shape[1:] == (468, 3) and f.pose.shape[1:] == (33, 4)
    assert (f.left_present | f.right_present).any()


def test_recognize_command_writes_tracks_and_skips_bad_files(tmp_path, parquet_dir, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    good = sorted(parquet_dir.glob("*.parquet"))[:2]
    out = tmp_path / "out"
    rc = main(["recognize", str(good[0]), str(bad), str(good[1]), "-o", str(out), "--home", str(tmp_path / "h")])
    err = capsys.readouterr().err
    assert rc == 1 and "bad.parquet" in err and "not a readable Parquet file" in err
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{g.stem}.gloss_track.json" for g in good)
    from signbridge.records import GlossTrack

    for g in good:  # each clip is one sign: one span, with its tier and the track's status
        track = GlossTrack.from_dict(json.loads((out / f"{g.stem}.gloss_track.json").read_text()))
        assert len(track.spans) == 1 and track.spans[0].tier in ("plain", "uncertain", "unclear"), g.name
        assert track.status in ("signing_recognised", "no_signing_recognised")


def test_eval_command_prints_metrics_and_writes_confusion_plot(tmp_path, parquet_dir, shared_data, capsys):
    rc = main(["eval", "--data", f"parquet:{parquet_dir}", "--split", "all", "--letters", str(shared_data / ALPHABET),
               "--segmentation", "-o", str(tmp_path / "rep"), "--home", str(tmp_path / "h")])
    out = capsys.readouterr().out
    assert rc == 0 and "top-1" in out and "top-5" in out and "per-class recall" in out and "letters" in out
    # a folder the checkpoint's training record does not name: no claim either way about having seen it
    assert "records no training on this data" in out and "trained on these clips" not in out
    assert (tmp_path / "rep" / "confusion.png").stat().st_size > 1000
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    # 16 holistic clips of 4 frequent glosses through the hands model (other extractor than its training data)
    assert set(rep["signs"]["per_class_recall"]) == {"drink", "go", "no", "yes"} and rep["signs"]["n"] == 16
    assert rep["signs"]["top5"] >= 0.5, rep["signs"]
    assert rep["letters"]["block_heldout_top1"] > 0.997  # the card: 99.96 %
    assert rep["segmentation"]["f1"] >= 0.9 and rep["segmentation"]["sequences"] == 30, rep["segmentation"]


def test_eval_split_is_checked_and_its_note_follows_the_training_record(tmp_path, parquet_dir, capsys):
    from signbridge.recognize.checkpoint import shipped_dir
    from signbridge.recognize.cli import training_note

    with pytest.raises(SystemExit):
        main(["eval", "--data", f"parquet:{parquet_dir}", "--split", "tset", "--home", str(tmp_path / "h")])
    assert "invalid choice: 'tset'" in capsys.readouterr().err
    assert main(["eval", "--data", f"parquet:{parquet_dir}", "--split", "test", "--home", str(tmp_path / "h")]) == 1
    assert "no samples in split 'test'" in capsys.readouterr().err
    shipped = json.loads((shipped_dir() / "config.json").read_text())["train"]  # val and test held out
    assert "records no training on this data" in training_note(shipped, [f"parquet:{parquet_dir}"], "val")
    spec = shipped["data"][0]["spec"]
    assert "split 'val' was held out" in training_note(shipped, [spec], "val")
    train = {"data": [{"spec": "npy:/data/wlasl_holistic_landmarks_npy"}], "holdout": "none"}
    spec = train["data"][0]["spec"]
    assert "trained on these clips" in training_note(train, [spec], "val")
    assert "whether split 'test' was among them is not recorded" in training_note(train, [spec], "test")
    assert "records no training on this data" in training_note(train, ["npy:/elsewhere/other_set"], "val")
    held = {**train, "holdout": "val"}
    assert "split 'val' was held out" in training_note(held, [spec], "val")
    assert "the 'train' clips among these" in training_note(held, [spec], "all")


# --------------------------------------------------------------------------- few-shot vocabulary

@pytest.fixture
def vocab_settings(tmp_path, shipped_copy):
    return load_settings(env={}, home=str(tmp_path / "home"), checkpoint=str(shipped_copy))


@pytest.fixture
def shipped_copy(tmp_path):
    from signbridge.recognize.checkpoint import shipped_dir

    dst = tmp_path / "ckpt"
    shutil.copytree(shipped_dir(), dst, ignore=shutil.ignore_patterns("fewshot.json"))
    return dst


@pytest.fixture(scope="module")
def salary_table(shared_data, tmp_path_factory):
    """SALARY extracted from the real video with our extractor (MediaPipe), once for the module."""
    from signbridge.extract import extract_video

    s = load_settings(env={}, home=str(tmp_path_factory.mktemp("xh")), workers=1)
    path = tmp_path_factory.mktemp("salary") / "salary.parquet"
    pq.write_table(extract_video(shared_data / CLIP, s).table, path)
    return path


def test_vocab_add_from_video_is_used_at_once_then_removed(vocab_settings, shared_data, salary_table, capsys):
    from signbridge.recognize import recognize_table

    table = pq.read_table(salary_table)
    before = recognize_table(table, vocab_settings)
    assert all(t.label != "salary" for s in before.spans for t in s.top_k)
    ck = ["--checkpoint", vocab_settings.checkpoint, "--home", vocab_settings.home]
    assert main(["vocab", "add", "SALARY", str(shared_data / CLIP), *ck]) == 0  # real video through extraction
    assert (vocab_settings.checkpoint and (json.loads(open(f"{vocab_settings.checkpoint}/fewshot.json").read())
                                           ["glosses"]["salary"]["clips"][0]["uri"]).endswith("49092.mp4"))
    after = recognize_table(table, vocab_settings)
    assert after.spans[0].label == "salary" and after.spans[0].kind == "gloss"
    assert after.vocabulary_sha256 != before.vocabulary_sha256
    capsys.readouterr()
    assert main(["vocab", "list", "--json", *ck]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["few_shot"] == {"salary": 1} and "drink" in listed["trained"]
    assert main(["vocab", "remove", "salary", *ck]) == 0
    assert all(t.label != "salary" for s in recognize_table(table, vocab_settings).spans for t in s.top_k)


def test_vocab_bad_requests_are_clear(vocab_settings, salary_table, tmp_path, capsys):
    ck = ["--checkpoint", vocab_settings.checkpoint, "--home", vocab_settings.home]
    assert main(["vocab", "add", "drink", str(salary_table), *ck]) == 1
    assert "already a trained class" in capsys.readouterr().err
    assert main(["vocab", "remove", "stir", *ck]) == 1  # a WLASL gloss this model never trained
    assert "not in the few-shot vocabulary" in capsys.readouterr().err
    assert main(["vocab", "add", "stir", str(tmp_path / "missing.mp4"), *ck]) == 1
    assert "example clip not found" in capsys.readouterr().err
    from signbridge.recognize.vocab import add_gloss

    with pytest.raises(InputError, match="1 to 5"):
        add_gloss("stir", [str(salary_table)] * 6, vocab_settings)


def test_fewshot_file_of_another_checkpoint_is_refused(vocab_settings, salary_table):
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.vocab import add_gloss

    add_gloss("salary", [str(salary_table)], vocab_settings)
    fs = json.loads(open(f"{vocab_settings.checkpoint}/fewshot.json").read())
    fs["model"]["weights_sha256"] = "0" * 64
    open(f"{vocab_settings.checkpoint}/fewshot.json", "w").write(json.dumps(fs))
    with pytest.raises(ModelError, match="another checkpoint"):
        load_recognizer(vocab_settings)


def test_recognize_reads_and_writes_object_storage(s3_server, s3_bucket, parquet_dir, monkeypatch, tmp_path):
    """Landmarks in a real S3 server (SeaweedFS) in, gloss tracks out, through the command line."""
    from signbridge.records import GlossTrack
    from signbridge.storage import open_store

    for env, value in (("AWS_ENDPOINT_URL", s3_server.s3_endpoint), ("AWS_ACCESS_KEY_ID", s3_server.s3_access_key),
                       ("AWS_SECRET_ACCESS_KEY", s3_server.s3_secret_key)):
        monkeypatch.setenv(env, value)
    store = open_store(s3_bucket, s3_server)
    src = sorted(parquet_dir.glob("*.parquet"))[0]
    store.put_file("in/clip.parquet", src)
    rc = main(["recognize", f"{s3_bucket}/in/clip.parquet", "-o", f"{s3_bucket}/tracks", "--home", str(tmp_path)])
    assert rc == 0
    track = GlossTrack.from_dict(json.loads(store.get_bytes("tracks/clip.gloss_track.json")))
    assert len(track.spans) == 1 and track.source_uri.endswith("clip.parquet")


def test_fewshot_glosses_of_the_shipped_model_live_under_signbridge_home(tmp_path, salary_table):
    """The installed package is never written to: `vocab add` on the shipped model writes under SIGNBRIDGE_HOME."""
    from signbridge.recognize.checkpoint import load_recognizer, shipped_dir
    from signbridge.recognize.vocab import add_gloss, remove_gloss

    package_files = sorted(p.name for p in shipped_dir().iterdir())
    home = tmp_path / "home"
    settings = load_settings(env={"SIGNBRIDGE_HOME": str(home)})
    assert settings.checkpoint in (None, "") and settings.home == str(home)
    add_gloss("salary", [str(salary_table)], settings)
    stored = home / "recognize" / shipped_dir().name / "fewshot.json"
    assert list(json.loads(stored.read_text())["glosses"]) == ["salary"]
    assert sorted(p.name for p in shipped_dir().iterdir()) == package_files  # nothing written into the package
    assert "salary" in load_recognizer(settings).labels
    assert "salary" not in load_recognizer(load_settings(env={"SIGNBRIDGE_HOME": str(tmp_path / "other")})).labels
    remove_gloss("salary", settings)
    assert "salary" not in load_recognizer(settings).labels


def test_recognition_pins_one_torch_thread_and_restores_the_setting(tmp_path, parquet_dir):
    """Inference runs on SIGNBRIDGE_RECOGNIZE_THREADS (default 1) torch threads; the caller's setting comes back."""
    import torch

    from signbridge.recognize import recognize_table
    from signbridge.recognize.checkpoint import load_recognizer

    table = pq.read_table(sorted(parquet_dir.glob("*.parquet"))[0])
    before = torch.get_num_threads()
    for threads, expected in ((None, 1), (0, 2)):  # 0: leave torch's own setting alone
        env = {"SIGNBRIDGE_HOME": str(tmp_path / "h")}
        if threads is not None:
            env["SIGNBRIDGE_RECOGNIZE_THREADS"] = str(threads)
        settings = load_settings(env=env)
        rec = load_recognizer(settings)
        model, seen = rec.model, []

        def spy(x, model=model, seen=seen):  # the real model, called through; records the thread count it ran on
            seen.append(torch.get_num_threads())
            return model(x)

        rec.model = spy
        torch.set_num_threads(2)
        try:
            assert recognize_table(table, settings).spans
            assert seen and set(seen) == {expected}, (threads, seen)
            assert torch.get_num_threads() == 2  # restored
        finally:
            rec.model = model
            torch.set_num_threads(before)
