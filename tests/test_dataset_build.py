"""``signbridge dataset build``: a labelled batch becomes a hive-partitioned dataset with a card."""
from __future__ import annotations

import csv
import json
import shutil

import pytest

from signbridge.errors import InputError
from signbridge.settings import load_settings

pytestmark = pytest.mark.data

CLIPS = [("01377.mp4", "thank you", "CC BY 4.0"), ("52349.mp4", "thank you", "C-UDA 1.0"),
         ("62746.mp4", "yes/no", "C-UDA 1.0")]


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory):
    from signbridge.cli import main

    src = tmp_path_factory.mktemp("videos")
    for f, _, _ in CLIPS:
        shutil.copy(shared_data / "wlasl_clips" / f, src / f)
    (src / "broken.mp4").write_text("not a video")
    labels = src / "labels.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "gloss", "signer", "licence"])
        for f, g, lic in CLIPS:
            w.writerow([f, g, "s1", lic])
        w.writerow(["missing.mp4", "yes/no", "s2", "CC0"])
        w.writerow(["broken.mp4", "thank you", "s2", "CC0"])
    out = tmp_path_factory.mktemp("ds")
    home = tmp_path_factory.mktemp("home")
    rc = main(["dataset", "build", "--labels", str(labels), "-o", str(out), "--workers", "2", "--home", str(home),
               "--name", "tiny-asl"])
    return {"rc": rc, "out": out, "card": json.loads((out / "dataset.json").read_text())}


def test_layout_is_hive_partitioned_zstd(built):
    import pyarrow.parquet as pq

    out = built["out"]
    files = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet"))
    assert files == ["data/label=thank you/01377.parquet", "data/label=thank you/52349.parquet",
                     "data/label=yes%2Fno/62746.parquet"]
    assert pq.ParquetFile(out / files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    assert built["rc"] == 1  # two rows could not be used


def test_readable_by_pyarrow_pandas_duckdb(built):
    import duckdb
    import pandas as pd
    import pyarrow.dataset as ds

    data = built["out"] / "data"
    frames = built["card"]["counts"]["frames"]
    t = ds.dataset(data, format="parquet", partitioning="hive").to_table()
    assert t.num_rows == frames
    assert set(t.column("label").to_pylist()) == {"thank you", "yes/no"}  # escaped folder name decoded
    import pyarrow.compute as pc

    assert set(pc.list_value_length(t.column("pose")).drop_null().to_pylist()) == {132}
    df = pd.read_parquet(data)
    assert len(df) == frames and set(df["video_id"]) == {"01377", "52349", "62746"}
    con = duckdb.connect()
    n, labels = con.execute(
        "SELECT count(*), count(DISTINCT label) FROM read_parquet(?, hive_partitioning = true)",
        [str(data / "**" / "*.parquet")]).fetchone()
    assert n == frames and labels == 2
    per_video = dict(con.execute(
        "SELECT video_id, count(*) FROM read_parquet(?, hive_partitioning = true) GROUP BY video_id",
        [str(data / "**" / "*.parquet")]).fetchall())
    assert per_video == {v["video_id"]: v["frames"] for v in _videos(built)}


def _videos(built):
    import pyarrow.parquet as pq

    return pq.read_table(built["out"] / "videos.parquet").to_pylist()


def test_card_counts_histograms_sources_licences(built):
    card = built["card"]
    assert card["name"] == "tiny-asl"
    assert card["counts"]["videos"] == 3 and card["counts"]["failed"] == 2 and card["counts"]["labels"] == 2
    assert card["per_label"]["thank you"]["videos"] == 2 and card["per_label"]["yes/no"]["videos"] == 1
    assert sum(v["frames"] for v in card["per_label"].values()) == card["counts"]["frames"]
    assert card["resolution_histogram"] == {"288x192": 3}
    assert sum(card["fps_histogram"].values()) == 3
    assert card["licences"] == {"C-UDA 1.0": 2, "CC BY 4.0": 1}
    assert {s["video_id"]: s["licence"] for s in card["sources"]} == {"01377": "CC BY 4.0", "52349": "C-UDA 1.0",
                                                                      "62746": "C-UDA 1.0"}
    assert all(len(s["sha256"]) == 64 for s in card["sources"])
    assert 0.9 <= card["detection"]["pose"]["share_of_frames"] <= 1.0
    failures = {f["video_id"]: f["error"] for f in card["failures"]}
    assert "file not found" in failures["missing"] and "text file, not a video" in failures["broken"]
    readme = (built["out"] / "README.md").read_text()
    assert "# tiny-asl" in readme and "| thank you | 2 |" in readme and "C-UDA 1.0" in readme
    assert "missing.mp4: file not found" in readme
    # the labels file's other columns (licence, signer) are carried into videos.parquet
    vids = _videos(built)
    assert {v["video_id"]: (v["licence"], v["signer"]) for v in vids}["01377"] == ("CC BY 4.0", "s1")


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


def test_nothing_extractable_is_an_error(tmp_path):
    from signbridge.extract.dataset import build_dataset

    p = tmp_path / "l.csv"
    p.write_text("file,label\nmissing.mp4,hello\n")
    with pytest.raises(InputError, match="no video could be extracted"):
        build_dataset(str(p), str(tmp_path / "out"), load_settings(env={}, home=str(tmp_path / "h")), workers=1)
