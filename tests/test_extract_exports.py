"""Kaggle ISLR and pose-format exports, read back with the readers those communities use."""
from __future__ import annotations

import numpy as np
import pytest

from signbridge.settings import load_settings

pytestmark = pytest.mark.data

ROWS_PER_FRAME = 543


def load_relevant_data_subset(pq_path):
    """The Kaggle competition's own reader (from its evaluation notebook): x, y, z reshaped per frame."""
    import pandas as pd

    data_columns = ["x", "y", "z"]
    data = pd.read_parquet(pq_path, columns=data_columns)
    n_frames = int(len(data) / ROWS_PER_FRAME)
    data = data.values.reshape(n_frames, ROWS_PER_FRAME, len(data_columns))
    return data.astype(np.float32)


@pytest.fixture(scope="module")
def extraction(shared_data, tmp_path_factory):
    from signbridge.extract import extract_video

    settings = load_settings(env={}, home=str(tmp_path_factory.mktemp("home")))
    return extract_video(shared_data / "wlasl_clips" / "01377.mp4", settings, workers=1)


@pytest.fixture(scope="module")
def competition_file(shared_data):
    files = sorted((shared_data / "islr_kaggle_asl_signs_subset" / "train_landmark_files").glob("*/*.parquet"))
    assert files, "no competition parquet files in the shared data"
    return files[0]


def _xyz(table, part, width):
    rows = table.column(part).to_pylist()
    return np.array([r if r is not None else [np.nan] * width for r in rows], dtype=np.float64)


def test_kaggle_export_matches_competition_files(extraction, competition_file, tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    from signbridge.extract.exports import write_kaggle

    ours = write_kaggle(extraction.table, tmp_path / "ours.parquet")
    # same columns, dtypes and order as the competition files
    assert pq.read_schema(ours).remove_metadata().equals(pq.read_schema(competition_file).remove_metadata())
    theirs_df, ours_df = pd.read_parquet(competition_file), pd.read_parquet(ours)
    assert list(ours_df.dtypes) == list(theirs_df.dtypes)
    # same row order within a frame: face, left_hand, pose, right_hand, landmark_index ascending
    first = theirs_df[theirs_df.frame == theirs_df.frame.iloc[0]]
    assert ours_df.type.iloc[:ROWS_PER_FRAME].tolist() == first.type.tolist()
    assert ours_df.landmark_index.iloc[:ROWS_PER_FRAME].tolist() == first.landmark_index.tolist()
    f0 = int(ours_df.frame.iloc[0])
    assert ours_df.row_id.iloc[0] == f"{f0}-face-0" and ours_df.row_id.iloc[468] == f"{f0}-left_hand-0"

    # the competition's reader takes both files alike
    a, b = load_relevant_data_subset(competition_file), load_relevant_data_subset(ours)
    assert a.shape[1:] == b.shape[1:] == (ROWS_PER_FRAME, 3)
    assert b.shape[0] == extraction.table.num_rows
    pose = _xyz(extraction.table, "pose", 132).reshape(-1, 33, 4)
    np.testing.assert_allclose(b[:, 489:522, :], pose[:, :, :3], rtol=1e-6)  # pose rows = our pose x, y, z
    rh = _xyz(extraction.table, "right_hand", 63).reshape(-1, 21, 3)
    np.testing.assert_allclose(b[:, 522:, :], rh, rtol=1e-6, equal_nan=True)  # NaN where not detected, as theirs


def test_kaggle_export_without_face_is_nan(extraction, tmp_path):
    import pyarrow as pa

    from signbridge.extract.exports import to_kaggle_table

    nulls = pa.nulls(extraction.table.num_rows, extraction.table.schema.field("face").type)
    t = extraction.table.set_column(2, extraction.table.schema.field("face"), nulls)
    k = to_kaggle_table(t).to_pandas()
    assert k[k.type == "face"].x.isna().all() and k[k.type == "pose"].x.notna().all()


def test_pose_format_export_reads_back(extraction, tmp_path):
    from pose_format import Pose

    from signbridge.extract.exports import write_pose

    p = write_pose(extraction.table, tmp_path / "x.pose")
    pose = Pose.read(p.read_bytes())
    n = extraction.table.num_rows
    assert [c.name for c in pose.header.components] == ["POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS",
                                                         "RIGHT_HAND_LANDMARKS"]
    assert pose.body.data.shape == (n, 1, 33 + 468 + 21 + 21, 3)
    assert pose.body.confidence.shape == (n, 1, 543)
    assert pose.header.dimensions.width == 288 and pose.header.dimensions.height == 192
    assert pose.body.fps == 15.0
    ours = _xyz(extraction.table, "pose", 132).reshape(-1, 33, 4)
    data = np.asarray(pose.body.data.data)
    np.testing.assert_allclose(data[:, 0, :33, 0], ours[:, :, 0] * 288, rtol=1e-5)  # pixels, like pose-format
    np.testing.assert_allclose(data[:, 0, :33, 1], ours[:, :, 1] * 192, rtol=1e-5)
    np.testing.assert_allclose(pose.body.confidence[:, 0, :33], ours[:, :, 3], rtol=1e-6)  # visibility
    rh_present = extraction.table.column("right_hand").is_valid().to_numpy(zero_copy_only=False)
    assert (pose.body.confidence[:, 0, 522:543].max(axis=1) > 0).tolist() == rh_present.tolist()


def test_pose_format_export_marks_missing_parts(extraction, tmp_path):
    from pose_format import Pose

    from signbridge.contracts import part_to_arrow, part_to_numpy
    from signbridge.extract.exports import write_pose

    values, present = part_to_numpy(extraction.table, "left_hand")
    present = present.copy()
    present[0] = False  # the left hand "not detected" in the first frame
    i = extraction.table.schema.get_field_index("left_hand")
    t = extraction.table.set_column(i, extraction.table.schema.field(i), part_to_arrow(values, present))
    pose = Pose.read(write_pose(t, tmp_path / "y.pose").read_bytes())
    lh = slice(33 + 468, 33 + 468 + 21)
    assert (pose.body.confidence[0, 0, lh] == 0).all()
    assert pose.body.data.mask[0, 0, lh].all()  # masked as missing by pose-format's reader
    assert (pose.body.confidence[present, 0, lh] == 1).all()


def test_dataset_export_cli(extraction, tmp_path, capsys):
    from signbridge.cli import main
    from signbridge.extract import write_landmarks

    src = write_landmarks(extraction.table, tmp_path / "a.landmarks.parquet")
    assert main(["dataset", "export", str(src), "--format", "kaggle", "-o", str(tmp_path / "a.kaggle.parquet")]) == 0
    assert load_relevant_data_subset(tmp_path / "a.kaggle.parquet").shape[0] == extraction.table.num_rows
    bad = tmp_path / "bad.parquet"
    bad.write_text("nope")
    assert main(["dataset", "export", str(bad), "--format", "pose", "-o", str(tmp_path / "x.pose")]) == 1
    assert "bad.parquet: not a readable Parquet file" in capsys.readouterr().err
