"""``signbridge dataset build``: a labelled batch becomes one labelled table with signer-disjoint splits and a
Hugging Face dataset card, readable by ``datasets``, pyarrow, pandas and DuckDB."""
from __future__ import annotations

import csv
import json
import random
import shutil

import pytest

from signbridge.errors import InputError
from signbridge.settings import load_settings

# file, label, signer, licence: s1 signs two clips, s2 and s3 one each; s4's two rows cannot be used
CLIPS = [("01377.mp4", "thank you", "s1", "CC BY 4.0"), ("52349.mp4", "thank you", "s1", "C-UDA 1.0"),
         ("62746.mp4", "yes/no", "s2", "C-UDA 1.0"), ("00339.mp4", "thank you", "s3", "C-UDA 1.0")]


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory):
    from signbridge.cli import main

    src = tmp_path_factory.mktemp("videos")
    for f, *_ in CLIPS:
        shutil.copy(shared_data / "wlasl_clips" / f, src / f)
    (src / "broken.mp4").write_text("not a video")
    labels = src / "labels.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "gloss", "signer", "licence"])
        w.writerows(CLIPS)
        w.writerow(["missing.mp4", "yes/no", "s4", "CC0"])
        w.writerow(["broken.mp4", "thank you", "s4", "CC0"])
    out = tmp_path_factory.mktemp("ds")
    for stale in ("data/label=old/x.parquet", "data/test/52349.parquet", "videos.parquet"):  # an earlier build's
        (out / stale).parent.mkdir(parents=True, exist_ok=True)
        (out / stale).write_bytes(b"stale")
    home = tmp_path_factory.mktemp("home")
    rc = main(["dataset", "build", "--labels", str(labels), "-o", str(out), "--workers", "2", "--home", str(home),
               "--name", "tiny-asl", "--no-progress"])
    return {"rc": rc, "out": out, "card": json.loads((out / "dataset.json").read_text())}


def _videos(built):
    import pyarrow.dataset as ds

    return ds.dataset(built["out"] / "videos").to_table().to_pylist()


@pytest.mark.data
def test_signer_disjoint_splits_and_layout(built):
    import pyarrow.parquet as pq

    out, card = built["out"], built["card"]
    assert built["rc"] == 1  # two rows could not be used
    split_of = {v["video_id"]: v["split"] for v in _videos(built)}
    signer_of = {f.split(".")[0]: s for f, _, s, _ in CLIPS}
    by_signer: dict[str, set[str]] = {}
    for vid, split in split_of.items():
        by_signer.setdefault(signer_of[vid], set()).add(split)
    assert all(len(s) == 1 for s in by_signer.values()), by_signer  # no signer in two splits
    assert set(split_of.values()) == {"train", "validation", "test"}
    assert split_of["01377"] == split_of["52349"] == "train"  # the biggest signer trains
    files = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet"))
    assert files == sorted(f"data/{split_of[v]}/{v}.parquet" for v in split_of)
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["test.parquet", "train.parquet",
                                                                  "validation.parquet"]
    assert not (out / "videos.parquet").exists()  # what an earlier build left is gone (files == this build's)
    assert pq.ParquetFile(out / files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    sp = card["splits"]
    assert sp["method"] == "signer" and sp["column"] == "signer" and sp["counts"]["train"]["videos"] == 2
    assert {k: v["signers"] for k, v in sp["counts"].items()} == {"train": 1, "validation": 1, "test": 1}
    held_out = {CLIPS[i][1] for i, (f, *_) in enumerate(CLIPS) if split_of[f[:5]] != "train"}
    assert sp["labels_not_in_train"] == sorted(held_out - {"thank you"})


@pytest.mark.data
def test_one_table_with_label_column_and_shapes_in_field_metadata(built):
    import duckdb
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    data = built["out"] / "data"
    frames = built["card"]["counts"]["frames"]
    t = ds.dataset(data, format="parquet").to_table()  # no partitioning scheme needed
    assert t.num_rows == frames and t.schema.names[:3] == ["video_id", "label", "split"]
    assert set(t.column("label").to_pylist()) == {"thank you", "yes/no"}
    for part, points, dims in (("face", 468, "x,y,z"), ("pose", 33, "x,y,z,visibility"), ("left_hand", 21, "x,y,z"),
                               ("right_hand", 21, "x,y,z")):
        meta = t.schema.field(part).metadata
        assert meta[b"points"] == str(points).encode() and meta[b"dims"] == dims.encode(), part
        lengths = set(pc.list_value_length(t.column(part)).drop_null().to_pylist())
        assert lengths <= {points * len(dims.split(","))}
    assert lengths  # hands were detected somewhere
    df = pd.read_parquet(data)
    assert len(df) == frames and set(df["video_id"]) == {"01377", "52349", "62746", "00339"}
    con = duckdb.connect()
    per_video = dict(con.execute("SELECT video_id || '/' || label, count(*) FROM read_parquet(?) GROUP BY ALL",
                                 [str(data / "*" / "*.parquet")]).fetchall())
    assert per_video == {f"{v['video_id']}/{v['label']}": v["frames"] for v in _videos(built)}


@pytest.mark.data
def test_hugging_face_datasets_loads_it_offline(built, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets
    from huggingface_hub import DatasetCard

    assert datasets.config.HF_HUB_OFFLINE  # no network, even if one were there
    out, card = built["out"], built["card"]
    header = DatasetCard.load(out / "README.md").data.to_dict()
    assert header["license"] == ["c-uda", "cc-by-4.0"] and header["pretty_name"] == "tiny-asl"
    assert header["size_categories"] == ["n<1K"]
    frames_cfg = next(c for c in header["configs"] if c["config_name"] == "frames")
    data_files = {d["split"]: str(out / d["path"]) for d in frames_cfg["data_files"]}
    assert list(data_files) == ["train", "validation", "test"]
    loaded = datasets.load_dataset("parquet", data_files=data_files, cache_dir=str(tmp_path / "cache"))
    want = {k: v["frames"] for k, v in card["splits"]["counts"].items()}
    assert {k: loaded[k].num_rows for k in loaded} == want
    row = loaded["train"][0]
    assert row["label"] == "thank you" and row["split"] == "train" and len(row["pose"]) == 33 * 4
    assert str(loaded["train"].features["label"]) == "Value('string')"
    # the folder itself, through the card's configs: frames by default, videos as the second config
    assert {k: v.num_rows for k, v in datasets.load_dataset(str(out), cache_dir=str(tmp_path / "c2")).items()} == want
    vids = datasets.load_dataset(str(out), "videos", cache_dir=str(tmp_path / "c3"))
    assert {k: v.num_rows for k, v in vids.items()} == {k: v["videos"] for k, v in card["splits"]["counts"].items()}


@pytest.mark.data
def test_card_counts_histograms_sources_licences(built):
    card = built["card"]
    assert card["name"] == "tiny-asl"
    assert card["counts"]["videos"] == 4 and card["counts"]["failed"] == 2 and card["counts"]["labels"] == 2
    assert card["per_label"]["thank you"]["videos"] == 3 and card["per_label"]["yes/no"]["videos"] == 1
    assert sum(v["frames"] for v in card["per_label"].values()) == card["counts"]["frames"]
    assert card["resolution_histogram"] == {"288x192": 4}
    assert sum(card["fps_histogram"].values()) == 4
    assert card["licences"] == {"C-UDA 1.0": 3, "CC BY 4.0": 1}
    assert {s["video_id"]: (s["licence"], s["signer"]) for s in card["sources"]}["01377"] == ("CC BY 4.0", "s1")
    assert all(len(s["sha256"]) == 64 for s in card["sources"])
    assert 0.9 <= card["detection"]["pose"]["share_of_frames"] <= 1.0
    failures = {f["video_id"]: f["error"] for f in card["failures"]}
    assert "file not found" in failures["missing"] and "text file, not a video" in failures["broken"]
    readme = (built["out"] / "README.md").read_text()
    assert readme.startswith("---\npretty_name: tiny-asl\n")
    assert "# tiny-asl" in readme and "| thank you | 3 |" in readme and "C-UDA 1.0" in readme
    assert "missing.mp4: file not found" in readme and "Signer-disjoint" in readme
    # the labels file's columns are carried into the videos table once, under their own names
    vids = {v["video_id"]: v for v in _videos(built)}
    assert (vids["01377"]["licence"], vids["01377"]["signer"], vids["01377"]["label"]) == ("CC BY 4.0", "s1",
                                                                                          "thank you")
    assert not any(k.startswith("labels_") for k in vids["01377"])


def test_assign_signers_is_disjoint_balanced_and_order_free():
    from signbridge.extract.splits import assign_signers

    rng = random.Random(7)
    counts = {f"p{i:02d}": rng.randint(1, 40) for i in range(30)}
    got = assign_signers(counts, 0.1, 0.1)
    assert set(got) == set(counts)  # a dict: each signer in exactly one split
    total = sum(counts.values())
    share = {k: sum(n for s, n in counts.items() if got[s] == k) / total for k in ("train", "validation", "test")}
    assert abs(share["validation"] - 0.1) < 0.05 and abs(share["test"] - 0.1) < 0.05, share
    shuffled = dict(rng.sample(sorted(counts.items()), len(counts)))
    assert assign_signers(shuffled, 0.1, 0.1) == got  # the labels file's row order does not matter
    assert set(assign_signers({"a": 5, "b": 1}).values()) == {"train", "test"}
    assert assign_signers({"a": 5}) == {"a": "train"}
    assert "test" not in assign_signers(counts, 0.2, 0.0).values()
    with pytest.raises(ValueError):
        assign_signers(counts, 0.6, 0.5)


def test_split_column_wins_and_bad_split_names_are_refused(tmp_path):
    from signbridge.extract.dataset import _refs, _split_plan, load_labels

    p = tmp_path / "l.csv"
    p.write_text("file,label,participant_id,split\na.mp4,hi,p1,train\nb.mp4,hi,p1,test\nc.mp4,yo,p2,\n")
    labels = load_labels(p)
    assert (labels.signer_column, labels.split_column) == ("participant_id", "split")
    refs, bad = _refs(labels, str(tmp_path), load_settings(env={}))
    plan = _split_plan(labels, refs, load_settings(env={}))
    assert plan["method"] == "column" and not bad
    assert [r.extra["split"] for r in refs] == ["train", "test", "train"]
    p.write_text("file,label,split\na.mp4,hi,train\nb.mp4,hi,hold out\n")
    with pytest.raises(InputError, match=r"l.csv: line 3: split 'hold out' is not a split name"):
        load_labels(p)
    p.write_text("file,label\na.mp4,hi\n")
    labels = load_labels(p)
    refs, _ = _refs(labels, str(tmp_path), load_settings(env={}))
    assert _split_plan(labels, refs, load_settings(env={}))["method"] == "none" and refs[0].extra["split"] == "train"


@pytest.mark.parametrize("raw,hub", [("CC BY 4.0", "cc-by-4.0"), ("C-UDA 1.0", "c-uda"), ("CC0", "cc0-1.0"),
                                     ("cc-by-nc-sa-4.0", "cc-by-nc-sa-4.0"), ("MIT License", "mit"),
                                     ("Apache 2.0", "apache-2.0"), ("research only", None)])
def test_hub_licence_ids(raw, hub):
    from signbridge.extract.dataset_card import hub_licence, licence_fields

    assert hub_licence(raw) == hub
    if hub is None:
        assert licence_fields([raw, "CC0"]) == {"license": ["cc0-1.0", "other"], "license_name": "see-sources",
                                                "license_details": f"Per-video licences (see the Sources table): {raw}"}


def test_labels_file_errors(tmp_path):
    from signbridge.extract.dataset import load_labels

    with pytest.raises(InputError, match="labels file not found"):
        load_labels(tmp_path / "nope.csv")
    p = tmp_path / "l.csv"
    p.write_text("file,signer\na.mp4,s1\n")
    with pytest.raises(InputError, match=r"l.csv: cannot tell which column holds the label \(columns: file, signer\)"):
        load_labels(p)
    p.write_text("file,label\n")
    with pytest.raises(InputError, match="no rows"):
        load_labels(p)
    p.write_text("file,label\na.mp4,hi\n")
    with pytest.raises(InputError, match=r"no column 'who'"):
        load_labels(p, signer_column="who")


def test_nothing_extractable_is_an_error(tmp_path):
    from signbridge.extract.dataset import build_dataset

    p = tmp_path / "l.csv"
    p.write_text("file,label\nmissing.mp4,hello\n")
    with pytest.raises(InputError, match="no video could be extracted"):
        build_dataset(str(p), str(tmp_path / "out"), load_settings(env={}, home=str(tmp_path / "h")), workers=1)
