"""The schemas in schemas/ accept what the stages write and reject malformed data."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from signbridge import contracts
from signbridge.errors import SchemaError
from signbridge.records import GlossSpan, GlossTrack, RunManifest, Sentence, TopK, Transcript, VideoResult

META = {"source_uri": "s3://b/v.mp4", "sha256": "0" * 64, "fps": 30.0, "width": 640, "height": 480,
        "rotation": 0, "mediapipe_version": "0.10.21", "model_complexity": 1}


def _table(n=4, frames=None, drop=None, face_width=None):
    schema = contracts.landmarks_arrow_schema()
    cols = {"frame": pa.array(frames or list(range(n)), pa.int32()),
            "timestamp_ms": pa.array([i * 33.3 for i in range(n)], pa.float64())}
    for part in contracts.PARTS:
        pts, dims = contracts.part_shape(part)
        if part == "face" and face_width:
            pts, dims = face_width, 1
        vals = np.random.rand(n, pts, dims).astype("float32")
        present = np.array([not (part == "left_hand" and i == 1) for i in range(n)])  # no left hand in frame 1
        cols[part] = contracts.part_to_arrow(vals, present)
    if drop:
        cols.pop(drop)
    table = pa.table(cols) if drop else pa.table(cols, schema=schema)
    return contracts.with_landmarks_metadata(table, META)


def test_valid_landmarks_round_trip_through_parquet(tmp_path):
    t = _table()
    pq.write_table(t, tmp_path / "x.parquet")
    back = pq.read_table(tmp_path / "x.parquet")
    meta = contracts.validate_landmarks(back, "x.parquet")
    assert meta["schema_version"] == contracts.LANDMARKS_VERSION and meta["fps"] == 30.0
    assert back.column("left_hand").null_count == 1
    lh, present = contracts.part_to_numpy(back, "left_hand")
    assert lh.shape == (4, 21, 3) and present.tolist() == [True, False, True, True]
    assert np.isnan(lh[1]).all() and not np.isnan(lh[0]).any()
    orig, _ = contracts.part_to_numpy(t, "pose")
    np.testing.assert_array_equal(contracts.part_to_numpy(back, "pose")[0], orig)
    assert contracts.part_shape("pose") == (33, 4) and contracts.part_width("face") == 468 * 3


def test_schema_is_built_from_the_contract_file():
    spec = json.loads((contracts.schemas_dir() / "landmarks.v1.json").read_text())
    assert [c["name"] for c in spec["columns"]] == contracts.landmarks_arrow_schema().names


@pytest.mark.parametrize("case,match", [
    ("missing_column", "no column 'right_hand'"),
    ("wrong_width", "column 'face' has rows whose length is not 1404"),
    ("frames_not_increasing", "strictly increasing"),
    ("no_metadata", "no SignBridge landmarks metadata"),
    ("wrong_version", "schema version 9.0 is not supported"),
    ("missing_meta_field", "missing sha256"),
])
def test_malformed_landmarks_are_rejected(case, match):
    if case == "missing_column":
        t = _table(drop="right_hand")
    elif case == "wrong_width":
        t = _table(face_width=12)
    elif case == "frames_not_increasing":
        t = _table(frames=[0, 2, 2, 3])
    elif case == "no_metadata":
        t = _table().replace_schema_metadata({})
    elif case == "wrong_version":
        m = {**META, "schema_version": "9.0"}
        t = _table().replace_schema_metadata({contracts.landmarks_metadata_key(): json.dumps(m)})
    else:
        m = {k: v for k, v in {**META, "schema_version": "1.0"}.items() if k != "sha256"}
        t = _table().replace_schema_metadata({contracts.landmarks_metadata_key(): json.dumps(m)})
    with pytest.raises(SchemaError, match=match) as e:
        contracts.validate_landmarks(t, source="clip.parquet")
    assert "clip.parquet" in str(e.value)


def _track():
    return GlossTrack(source_uri="s3://b/v.mp4", sha256="a" * 64, model_name="sb", model_version="1",
                      spans=[GlossSpan(0, 500, "HELLO", "gloss", 0.9, [TopK("HELLO", 0.9), TopK("HI", 0.05)]),
                             GlossSpan(600, 900, "UNKNOWN", "unknown", 0.2, [TopK("GO", 0.2)]),
                             GlossSpan(1000, 1500, "fs-CAT", "fingerspelling", 0.8, [])])


def test_documents_round_trip():
    track = _track()
    assert GlossTrack.from_dict(json.loads(json.dumps(track.to_dict()))) == track
    tr = Transcript("s3://b/v.mp4", "a" * 64, "rules", "rules", "1",
                    [Sentence(0, 900, "Hello [unclear sign].", [0, 1], 0.55, True, ["HELLO", "UNKNOWN"])])
    assert Transcript.from_dict(tr.to_dict()) == tr and tr.to_dict()["no_signing"] is False
    m = RunManifest([VideoResult("s3://b/v.mp4", "ok", "a" * 64, stage_timings={"extract": 1.5},
                                 outputs={"video": "s3://b/o.mp4"}),
                     VideoResult("s3://b/bad.mp4", "failed", error="bad.mp4: file is empty", failed_stage="extract")])
    assert RunManifest.from_dict(m.to_dict()).videos == m.videos


@pytest.mark.parametrize("kind,mutate,match", [
    ("gloss_track", lambda d: d["spans"][0].update(kind="maybe"), "spans/0/kind"),
    ("gloss_track", lambda d: d["spans"][0].update(confidence=1.5), "spans/0/confidence"),
    ("gloss_track", lambda d: d.update(schema_version="2.0"), "schema_version"),
    ("gloss_track", lambda d: d["spans"][1].pop("top_k"), "top_k"),
])
def test_invalid_documents_are_rejected(kind, mutate, match):
    doc = _track().to_dict()
    mutate(doc)
    with pytest.raises(SchemaError, match=match):
        GlossTrack.from_dict(doc, source="track.json")


def test_manifest_rejects_unknown_status():
    doc = RunManifest([VideoResult("x.mp4")]).to_dict()
    doc["videos"][0]["status"] = "done-ish"
    with pytest.raises(SchemaError, match="videos/0/status"):
        RunManifest.from_dict(doc)
