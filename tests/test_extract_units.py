"""An extraction unit's videos through one shared worker pool (inline DAG runs) give exactly what the
one-at-a-time path gives: the same landmarks, the same statuses and errors for bad files, the same skips.
Real WLASL clips, real MediaPipe, a local output folder.
"""
from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from signbridge.pipeline import Context, extract_videos, list_inputs
from signbridge.settings import load_settings

CLIPS = ("wlasl_clips/01377.mp4", "wlasl_clips/17356.mp4", "wlasl_clips/62746.mp4")


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory):
    d = tmp_path_factory.mktemp("unit-inputs")
    (d / "notes.mp4").write_text("these are notes, not a video\n")
    (d / "cut.mp4").write_bytes((shared_data / CLIPS[1]).read_bytes()[:20000])
    return [str(shared_data / c) for c in CLIPS] + [str(d / "notes.mp4"), str(d / "cut.mp4")]


def _extract(inputs, tmp, workers):
    settings = load_settings(env={}, home=str(tmp / "home"))
    with Context(settings, str(tmp / "out"), run_id="r1") as ctx:
        states, bad = list_inputs(inputs, settings)
        assert not bad
        extract_videos(states, ctx, workers=workers)
    return {os.path.basename(st.input_uri): st for st in states}, tmp / "out"


@pytest.fixture(scope="module")
def both(inputs, tmp_path_factory):
    return (_extract(inputs, tmp_path_factory.mktemp("one"), 1),
            _extract(inputs, tmp_path_factory.mktemp("pool"), 2))


def test_pooled_unit_gives_what_one_at_a_time_gives(both):
    (one, out1), (pool, out2) = both
    assert one.keys() == pool.keys()
    for name in one:
        a, b = one[name], pool[name]
        assert (a.status, a.failed_stage, a.error, a.sha256) == (b.status, b.failed_stage, b.error, b.sha256), name
        assert a.detection == b.detection and a.permanent == b.permanent, name
        if a.status == "ok":
            ta = pq.read_table(out1 / a.folder / "landmarks.parquet")
            tb = pq.read_table(out2 / b.folder / "landmarks.parquet")
            assert ta.equals(tb, check_metadata=True), name  # bit-identical landmarks and metadata
    assert [one[os.path.basename(c)].status for c in CLIPS] == ["ok"] * 3
    assert one["notes.mp4"].status == "failed" and "text file" in one["notes.mp4"].error
    assert one["cut.mp4"].status == "failed" and "truncated" in one["cut.mp4"].error
    assert pool["01377.mp4"].timings["extract"] > 0


def test_pooled_unit_skips_what_an_earlier_run_stored(both, inputs, tmp_path):
    """A second pooled extraction into the same output reuses the stored landmarks, runs no graph."""
    import shutil

    (_, _), (first, out) = both
    shutil.copytree(out, tmp_path / "out")
    (home := tmp_path / "home").mkdir()
    settings = load_settings(env={}, home=str(home))
    with Context(settings, str(tmp_path / "out"), run_id="r2") as ctx:
        states, _ = list_inputs(inputs, settings)
        extract_videos(states, ctx, workers=2)
    again = {os.path.basename(st.input_uri): st for st in states}
    for c in CLIPS:
        name = os.path.basename(c)
        assert again[name].status == "ok" and again[name].folder == first[name].folder
        assert again[name].outputs["landmarks"] == str(tmp_path / "out" / first[name].folder / "landmarks.parquet")
        assert again[name].timings.get("extract", 0) < 1.0, "stored landmarks were re-extracted"


def test_inline_runs_give_extraction_units_every_core(monkeypatch):
    from signbridge.orchestrate.runner import INLINE_ENV
    from signbridge.orchestrate.tasks import unit_workers

    monkeypatch.delenv(INLINE_ENV, raising=False)
    assert unit_workers() == 1  # under an executor: tasks side by side, one core each
    monkeypatch.setenv(INLINE_ENV, "1")
    assert unit_workers() is None  # SIGNBRIDGE_WORKERS decides (default: every core)
