"""``signbridge run`` and the pipeline steps the DAG tasks share: real clips, real MediaPipe, real
recogniser/composer/TTS/ffmpeg, a local output folder. Bad inputs get specific errors and leave no
result folder; a rerun skips finished work; the task callables report a stage that never ran.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signbridge.pipeline import Context, VideoState, fingerprint, plan_units, safe_run_id
from signbridge.pipeline.chunks import _chunk_from_bytes, _chunk_to_bytes
from signbridge.settings import load_settings

CLIP = "wlasl_clips/01377.mp4"  # 0.77 s, 288x192


def _cli(args: list[str], home: Path, **env) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_"))}
    e.update({"SIGNBRIDGE_HOME": str(home), **env})
    return subprocess.run([sys.executable, "-m", "signbridge.cli", *args], env=e, capture_output=True, text=True,
                          timeout=600)


def _folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir() and p.name not in ("runs", "_index", "_staging"))


@pytest.fixture(scope="module")
def first_run(shared_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    out, home = base / "out", base / "home"
    res = _cli(["run", str(shared_data / CLIP), "-o", str(out)], home)
    return out, home, res


def test_run_writes_every_output(first_run):
    from signbridge.contracts import validate_landmarks
    from signbridge.extract import read_landmarks
    from signbridge.records import GlossTrack, RunManifest, Transcript

    out, _home, res = first_run
    assert res.returncode == 0, res.stderr[-2000:]
    (folder,) = _folders(out)
    names = {p.name for p in folder.iterdir()}
    assert {"landmarks.parquet", "gloss_track.json", "transcript.json", "captions.srt", "captions.vtt",
            "narration.wav", "video.mp4", "result.json"} <= names
    assert not [n for n in names if n.startswith(".")], names  # no temporary leftovers
    meta = validate_landmarks(read_landmarks(folder / "landmarks.parquet"))
    assert meta["sha256"].startswith(folder.name.split("-")[0])
    track = GlossTrack.from_dict(json.loads((folder / "gloss_track.json").read_text()))
    tr = Transcript.from_dict(json.loads((folder / "transcript.json").read_text()))
    assert track.sha256 == tr.sha256 == meta["sha256"]
    (run,) = (out / "runs").iterdir()
    manifest = RunManifest.from_dict(json.loads((run / "manifest.json").read_text()))
    (v,) = manifest.videos
    assert v.status == "ok" and set(v.stage_timings) >= {"extract", "recognize", "compose", "speak", "mux"}
    assert v.detection["frames"] > 0 and 0 <= v.detection["pose"] <= 1
    html = (run / "report.html").read_text()
    assert "<svg" in html and "01377.mp4" in html and manifest.run_id in html
    # what the command prints: each output and the summary table
    assert str(folder / "video.mp4") in res.stdout and "status" in res.stdout


def test_rerun_skips_finished_video(first_run):
    out, home, _ = first_run
    (folder,) = _folders(out)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    src = str(Path(json.loads((folder / "result.json").read_text())["input_uri"]))
    res = _cli(["run", src, "-o", str(out)], home)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[skipped]" in res.stdout
    res = _cli(["run", "--json", src, "-o", str(out)], home)  # the same, as one JSON document on stdout
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout)
    assert doc["status"] == "skipped" and [v["status"] for v in doc["manifest"]["videos"]] == ["skipped"]
    assert doc["uris"]["manifest"].endswith("manifest.json")
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before  # nothing rewritten
    assert len(_folders(out)) == 1


def test_uploads_sensor_sees_only_unfinished_videos(first_run, shared_data, tmp_path):
    """What the uploads sensor asks: does the prefix hold videos no run has finished? (no download)"""
    from signbridge.orchestrate import tasks

    out, home, _ = first_run
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "01377.mp4").write_bytes((shared_data / CLIP).read_bytes())  # finished by first_run
    (uploads / "notes.csv").write_text("not a video\n")
    os.environ["SIGNBRIDGE_HOME"] = str(home)
    try:
        assert tasks.any_new_uploads({"input": str(uploads), "output": str(out)})["new"] == 0
        (uploads / "62746.mp4").write_bytes((shared_data / "wlasl_clips/62746.mp4").read_bytes())
        found = tasks.any_new_uploads({"input": str(uploads), "output": str(out)})
    finally:
        os.environ.pop("SIGNBRIDGE_HOME", None)
    assert found["new"] == 1 and found["first"][0].endswith("62746.mp4")


def test_run_on_a_folder_of_several_videos_says_to_use_process(shared_data, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("01377.mp4", "17356.mp4"):
        (folder / name).write_bytes((shared_data / "wlasl_clips" / name).read_bytes())
    res = _cli(["run", str(folder), "-o", str(tmp_path / "out")], tmp_path / "home")
    text = res.stdout + res.stderr
    assert res.returncode == 1 and "holds 2 videos" in text and "signbridge process" in text, text[-2000:]
    assert "Traceback" not in text
    assert not (tmp_path / "out").exists() or _folders(tmp_path / "out") == []


@pytest.mark.parametrize("case", ["text", "missing", "empty_dir", "truncated"])
def test_run_bad_input(case, shared_data, tmp_path):
    out, home = tmp_path / "out", tmp_path / "home"
    if case == "text":
        bad = tmp_path / "notes.mp4"
        bad.write_text("these are notes, not a video\n")
        expect = "text file"
    elif case == "missing":
        bad = tmp_path / "nope.mp4"
        expect = "file not found"
    elif case == "empty_dir":
        bad = tmp_path / "empty"
        bad.mkdir()
        expect = "no video files"
    else:
        bad = tmp_path / "cut.mp4"
        bad.write_bytes((shared_data / "wlasl_clips/17356.mp4").read_bytes()[:20000])
        expect = "truncated"
    res = _cli(["run", str(bad), "-o", str(out)], home)
    assert res.returncode == 1
    text = res.stdout + res.stderr
    assert expect in text and bad.name in text, text[-2000:]
    assert "Traceback" not in text
    assert not out.exists() or _folders(out) == []  # no partial result folder


def test_plan_packs_short_videos_and_splits_long_ones():
    s = load_settings(env={}, chunk_seconds=60.0, batch_seconds=10.0)
    states = [VideoState(f"v{i}", index=i, duration_ms=d * 1000) for i, d in enumerate([2, 3, 4, 150, 2, 1])]
    states.append(VideoState("bad", index=6, status="failed"))
    units = plan_units(states, s, max_videos=64)
    whole = [u for u in units if "videos" in u]
    chunks = [u for u in units if "chunk" in u]
    assert [c["chunk"] for c in chunks] == [0, 1, 2] and {c["video"] for c in chunks} == {3}
    assert states[3].chunks == 3
    assert [u["videos"] for u in whole] == [[0, 1, 2], [4, 5]]  # 9 s, then the rest; the failed one is left out
    assert all(u["seconds"] <= 10 for u in whole)
    # a thousand 2-second clips become a few dozen tasks, not a thousand
    many = [VideoState(f"c{i}", index=i, duration_ms=2000) for i in range(1000)]
    assert len(plan_units(many, load_settings(env={}), max_videos=64)) == 17


def test_result_folder_follows_output_settings_only():
    base = load_settings(env={})
    fp = fingerprint(base)
    assert fingerprint(base.replace(workers=7, device="cpu", batch_size=3, log_level="DEBUG")) == fp
    for change in ({"fps": 10.0}, {"face": "none"}, {"composer": "local"}, {"tts": "espeak"},
                   {"original_audio": "drop"}, {"min_confidence": 0.5}, {"chunk_seconds": 30.0}):
        assert fingerprint(base.replace(**change)) != fp, change


def test_state_round_trip_and_run_ids():
    st = VideoState("s3://b/u/x.mp4", index=3, sha256="a" * 64, folder="f", timings={"extract": 1.5},
                    outputs={"video": "s3://b/o/f/video.mp4"}, detection={"frames": 9})
    assert VideoState.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    assert st.to_result().status == "ok"
    rid = safe_run_id("manual__2026-11-21T23:21:52.931468+00:00")
    assert ":" not in rid and "+" not in rid and rid.startswith("manual__2026-11-21T23-21-52")


def test_chunk_results_survive_staging(shared_data, tmp_path):
    """The DAG stages a long video's chunks as .npz between tasks; merging them gives the same table."""
    from signbridge.extract.holistic import run_chunk
    from signbridge.extract.video import finish, prepare

    s = load_settings(env={}, home=str(tmp_path), chunk_seconds=5.0)
    path = shared_data / "continuous_clips/asl_wrong_what.mp4"
    job = prepare(path, s, workers=1, chunk_s=1.0)  # force several chunks of a 3 s clip
    assert len(job.tasks) >= 2
    results = [run_chunk(t) for t in job.tasks]
    again = [_chunk_from_bytes(_chunk_to_bytes(r)) for r in results]
    a, b = finish(job, results), finish(job, again)
    assert a.table.equals(b.table, check_metadata=True)


def test_task_callables_report_a_stage_that_never_ran(shared_data, tmp_path):
    """Run the DAG's callables by hand, leave out recognition: publish says which stage and why."""
    from signbridge.orchestrate import tasks

    params = {"inputs": [str(shared_data / CLIP)], "output": str(tmp_path / "out"), "run_id": "r1"}
    os.environ["SIGNBRIDGE_HOME"] = str(tmp_path / "home")
    try:
        units = tasks.discover(params, "ignored")
        assert len(units) == 1 and units[0]["videos"] == 1
        tasks.extract(units[0], params)
        batches = tasks.assemble(params, "ignored")
        assert batches[0]["counts"] == {"ok": 1}
        # recognize never runs (as if its task failed after retries); compose and publish still do
        assert tasks.compose(params, "ignored") == []
        res = tasks.publish(params, "ignored")
    finally:
        os.environ.pop("SIGNBRIDGE_HOME", None)
    doc = json.loads(Path(res["manifest"]).read_text())
    (v,) = doc["videos"]
    assert v["status"] == "failed" and v["failed_stage"] == "recognize"
    assert "recognize task of batch 0" in v["error"]
    assert v["outputs"]["landmarks"].endswith("landmarks.parquet")  # what did finish is listed
    folder = Path(v["outputs"]["landmarks"]).parent
    assert not (folder / "result.json").exists()  # not marked complete: a rerun picks it up
    ctx = Context(load_settings(env={}, home=str(tmp_path / "home")), str(tmp_path / "out"), run_id="r2")
    from signbridge.pipeline import list_inputs, lookup_done

    states, _ = list_inputs(params["inputs"], ctx.settings)
    lookup_done(states, ctx)
    assert states[0].status == "ok"  # not skipped


def test_scratch_of_a_dead_process_is_removed(tmp_path):
    """Downloaded videos live in a per-process scratch folder; one left by a killed worker is removed by the
    next run on that machine, one of a live process is not."""
    from signbridge.pipeline.context import clean_stale_scratch

    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".pid").write_text(str(dead.pid))
    (tmp_path / "old" / "video.mp4").write_bytes(b"frames")
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / ".pid").write_text(str(os.getpid()))
    assert clean_stale_scratch(tmp_path) == 1
    assert not (tmp_path / "old").exists() and (tmp_path / "live").exists()
    ctx = Context(load_settings(env={}, home=str(tmp_path / "home")), str(tmp_path / "out"))
    d = ctx.scratch
    from signbridge.processes import create_time

    assert d.is_dir() and (d / ".pid").read_text() == f"{os.getpid()} {create_time(os.getpid())}"  # PID + who
    ctx.close()
    assert not d.exists()


def test_a_failing_batch_is_retried_video_by_video():
    """One video that breaks the batched call fails alone; the others still get their result."""
    from signbridge.errors import InputError
    from signbridge.pipeline.guard import batched

    def square(videos, items):
        if "bad" in items:
            raise InputError("cannot use this one", source="bad")
        return [x * x for x in items]

    good = [VideoState(f"s3://b/{i}.mp4", index=i) for i in range(3)]
    assert [(st.index, r) for st, r in batched("recognize", good, [1, 2, 3], square)] == [(0, 1), (1, 4), (2, 9)]
    assert all("recognize" in st.timings for st in good)  # the batch's time, shared
    sts = [VideoState(f"s3://b/{i}.mp4", index=i) for i in range(3)]
    done = batched("recognize", sts, [2, "bad", 4], square)
    assert [(st.index, r) for st, r in done] == [(0, 4), (2, 16)]
    assert sts[1].status == "failed" and sts[1].failed_stage == "recognize" and "cannot use" in sts[1].error
    assert sts[0].active and sts[2].active
