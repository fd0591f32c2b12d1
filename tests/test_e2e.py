"""Acceptance: the README's main command end to end on a real SeaweedFS, real Airflow and real stages.

Three real WLASL clips and one broken file are uploaded by ``signbridge process``, the
``signbridge_videos`` DAG runs (``dag.test``), and every good video gets its landmarks, gloss track,
transcript, captions and a muxed MP4 whose streams ffprobe confirms; the broken file is failed
with its reason and has no outputs. A second run does no extraction and writes nothing new. A run
killed (SIGKILL) in the middle of extracting a long video, then rerun, ends with exactly the outputs
of an undisturbed run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

CLIPS = ["wlasl_clips/01377.mp4", "wlasl_clips/62746.mp4", "wlasl_clips/53199.mp4"]  # ~1 s, 288x192


def _env(settings, home: Path, bucket: str, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(home), "SIGNBRIDGE_RESULTS": str(home / "results"),
                "AWS_ENDPOINT_URL": settings.s3_endpoint,
                "AWS_ACCESS_KEY_ID": settings.s3_access_key, "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key,
                "SIGNBRIDGE_UPLOADS": f"{bucket}/uploads", "SIGNBRIDGE_OUTPUT": f"{bucket}/outputs", **extra})
    return env


def _process(args: list[str], env: dict, timeout: float = 600) -> tuple[subprocess.CompletedProcess, dict | None]:
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "process", "--json", *args], env=env,
                         capture_output=True, text=True, timeout=timeout)
    try:
        return res, json.loads(res.stdout)
    except json.JSONDecodeError:
        return res, None


def _listing(store, prefix: str = "") -> dict[str, str]:
    return {o.key: o.etag for o in store.list(prefix)}


def _ffprobe_streams(path: Path) -> list[dict]:
    res = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(res.stdout)["streams"]


def _video_md5(path: Path) -> str:
    """MD5 of the video stream's packets: equal for a stream copy, different for any re-encode."""
    res = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-"],
                         capture_output=True, text=True, check=True)
    return res.stdout.strip()


@pytest.fixture(scope="module")
def accepted(shared_data, s3_server, tmp_path_factory):
    from signbridge.storage import open_store

    base = tmp_path_factory.mktemp("e2e")
    inputs = base / "in"
    inputs.mkdir()
    for c in CLIPS:
        (inputs / Path(c).name).write_bytes((shared_data / c).read_bytes())
    broken = inputs / "broken.mp4"  # the first 6 KB of a real clip: a cut-off upload
    broken.write_bytes((shared_data / "wlasl_clips/17356.mp4").read_bytes()[:6000])
    bucket = f"s3://e2e-{uuid.uuid4().hex[:10]}"
    env = _env(s3_server, base / "home", bucket)
    t0 = time.perf_counter()
    first, doc1 = _process([str(inputs)], env)
    t1 = time.perf_counter()
    out = open_store(f"{bucket}/outputs", s3_server)
    up = open_store(f"{bucket}/uploads", s3_server)
    snap_out, snap_up = _listing(out), _listing(up)
    second, doc2 = _process([str(inputs)], env)
    t2 = time.perf_counter()
    return {"inputs": inputs, "broken": broken, "bucket": bucket, "out": out, "up": up, "first": first,
            "doc1": doc1, "second": second, "doc2": doc2, "snap_out": snap_out, "snap_up": snap_up,
            "seconds": (t1 - t0, t2 - t1), "base": base}


def test_first_run_outputs(accepted, tmp_path):
    from signbridge.extract import read_landmarks
    from signbridge.records import GlossTrack, RunManifest, Transcript

    res, doc = accepted["first"], accepted["doc1"]
    assert doc is not None, res.stderr[-3000:]
    assert res.returncode == 1  # the broken file failed, so the command says so
    manifest = RunManifest.from_dict(doc["manifest"])
    by_name = {Path(v.input_uri).name: v for v in manifest.videos}
    assert set(by_name) == {Path(c).name for c in CLIPS} | {"broken.mp4"}
    out = accepted["out"]
    for c in CLIPS:
        v = by_name[Path(c).name]
        assert v.status == "ok", (v.error, v.failed_stage)
        folder = out.child(v.outputs["video"].split("/outputs/", 1)[1].rsplit("/", 1)[0])
        for name in ("landmarks.parquet", "gloss_track.json", "transcript.json", "captions.srt", "captions.vtt",
                     "narration.wav", "video.mp4", "result.json"):
            assert folder.exists(name), (c, name)
        d = tmp_path / Path(c).stem
        read_landmarks(folder.get_file("landmarks.parquet", d / "l.parquet"))  # contract-valid
        track = GlossTrack.from_dict(json.loads(folder.get_bytes("gloss_track.json")))
        tr = Transcript.from_dict(json.loads(folder.get_bytes("transcript.json")))
        assert track.sha256 == tr.sha256 == v.sha256
        assert folder.get_bytes("captions.vtt").startswith(b"WEBVTT")
        mp4 = folder.get_file("video.mp4", d / "video.mp4")
        streams = _ffprobe_streams(mp4)
        kinds = [s["codec_type"] for s in streams]
        assert kinds.count("video") == 1 and "audio" in kinds and "subtitle" in kinds, kinds
        sub = next(s for s in streams if s["codec_type"] == "subtitle")
        assert sub["codec_name"] == "mov_text"
        narration = next(s for s in streams if s["codec_type"] == "audio")
        assert narration["codec_name"] == "aac" and narration.get("tags", {}).get("handler_name") == "Narration"
        src = accepted["inputs"] / Path(c).name
        assert _video_md5(mp4) == _video_md5(src)  # the video stream is copied, not re-encoded
        assert v.detection["frames"] > 0 and set(v.stage_timings) >= {"extract", "recognize", "speak", "mux"}


def test_broken_file_failed_without_outputs(accepted):
    from signbridge.storage.keys import sha256_file

    doc = accepted["doc1"]
    (bad,) = [v for v in doc["manifest"]["videos"] if v["input_uri"].endswith("broken.mp4")]
    assert bad["status"] == "failed" and bad["failed_stage"] == "extract"
    assert "broken.mp4" in bad["error"] and ("truncated" in bad["error"] or "not a readable video" in bad["error"])
    assert bad["outputs"] == {}
    sha16 = sha256_file(accepted["broken"])[:16]
    assert [k for k in accepted["snap_out"] if sha16 in k] == []  # no result folder, no staged chunks
    assert [k for k in accepted["snap_out"] if "_staging/" in k] == []


def test_manifest_and_report_next_to_outputs(accepted):
    doc = accepted["doc1"]
    run_id = doc["manifest"]["run_id"]
    assert doc["manifest_uri"] == f"{accepted['bucket']}/outputs/runs/{run_id}/manifest.json"
    html = Path(doc["local_report"]).read_text()
    assert accepted["out"].exists(f"runs/{run_id}/report.html")
    for name in [Path(c).name for c in CLIPS] + ["broken.mp4"]:
        assert name in html
    assert "<svg" in html and "failed" in html and "Stage timings" in html


def test_rerun_does_no_extraction_and_writes_no_duplicates(accepted):
    res, doc = accepted["second"], accepted["doc2"]
    assert doc is not None, res.stderr[-3000:]
    statuses = {Path(v["input_uri"]).name: v["status"] for v in doc["manifest"]["videos"]}
    assert statuses == {**{Path(c).name: "skipped" for c in CLIPS}, "broken.mp4": "failed"}
    errors = [v["error"] for d in (accepted["doc1"], doc) for v in d["manifest"]["videos"] if v["status"] == "failed"]
    assert len(errors) == 2 and errors[0] == errors[1]  # same reason again, without trying the file again
    assert all("extract" not in v["stage_timings"] for v in doc["manifest"]["videos"])
    extract_tis = [t for t in doc["tasks"] if t["task_id"] == "extract" and t["state"] == "success"]
    assert extract_tis == []  # nothing was planned for extraction
    # every object outside the new run record is the same object as after the first run
    after = _listing(accepted["out"])
    new = {k: e for k, e in after.items() if k not in accepted["snap_out"]}
    assert all(k.startswith(f"runs/{doc['manifest']['run_id']}/") for k in new), sorted(new)
    assert {k: after[k] for k in accepted["snap_out"]} == accepted["snap_out"]
    assert _listing(accepted["up"]) == accepted["snap_up"]  # uploads are content-addressed: no second copy


# ------------------------------------------------------------------- kill and rerun
@pytest.fixture(scope="module")
def long_clip(shared_data, tmp_path_factory) -> Path:
    """12 s of continuous signing (from the benchmark concatenation), small, made at test time."""
    out = tmp_path_factory.mktemp("long") / "signing_12s.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(shared_data / "bench/wlasl_concat_640x480_30fps.mp4"),
                    "-t", "12", "-vf", "scale=320:-2", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28",
                    str(out)], check=True)
    return out


def test_killed_worker_then_rerun_matches_undisturbed_run(long_clip, s3_server, tmp_path):
    """SIGKILL the process running the DAG while it extracts the chunks of a long video, rerun it:
    the result folder equals that of an undisturbed run, file for file (byte for byte, except the
    chunk timings the extractor records in the landmarks metadata)."""
    from signbridge.storage import open_store

    bucket = f"s3://kill-{uuid.uuid4().hex[:10]}"
    opts = {"SIGNBRIDGE_FPS": "10", "SIGNBRIDGE_CHUNK_SECONDS": "5", "SIGNBRIDGE_TTS": "espeak"}  # espeak: repeatable
    # undisturbed reference: `signbridge run` (no Airflow) into outputs-a, same settings
    from signbridge.storage.keys import sha256_file

    env_a = _env(s3_server, tmp_path / "home", bucket, **opts)
    # the same uploaded object `process` will use, so both runs record the same source URI
    src = open_store(f"{bucket}/uploads", s3_server, create=True).put_file(
        f"{sha256_file(long_clip)[:16]}/{long_clip.name}", long_clip)
    ref = subprocess.run([sys.executable, "-m", "signbridge.cli", "run", src, "-o", f"{bucket}/outputs-a",
                          "--workers", "1"], env=env_a, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    a = open_store(f"{bucket}/outputs-a", s3_server)
    (folder,) = {k.split("/")[0] for k in _listing(a) if "/" in k and not k.startswith(("runs/", "_index/"))}
    assert json.loads(a.child(folder).get_bytes("result.json"))["stage_timings"]["extract"] > 0

    # disturbed: the DAG into outputs-b, killed once the first chunk is staged
    env_b = dict(env_a, SIGNBRIDGE_OUTPUT=f"{bucket}/outputs-b")
    b = open_store(f"{bucket}/outputs-b", s3_server)
    proc = subprocess.Popen([sys.executable, "-m", "signbridge.cli", "process", "--json", str(long_clip)], env=env_b,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    staged: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            staged = [k for k in _listing(b, "_staging/")]
            if staged:
                break
            time.sleep(0.1)
        assert staged, "the run never staged a chunk (did it plan the video as chunks?)"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    killed_at = _listing(b)
    scratch = tmp_path / "home" / "tmp"
    left = [d for d in scratch.iterdir() if d.is_dir()] if scratch.is_dir() else []  # killed mid-task: its scratch
    assert not any(k == f"{folder}/landmarks.parquet" for k in killed_at), "killed too late: extraction had finished"
    assert not any(k.startswith(f"{folder}/") and k.endswith("result.json") for k in killed_at)

    res, doc = _process([str(long_clip)], env_b)
    assert res.returncode == 0 and doc is not None, res.stderr[-3000:]
    (v,) = doc["manifest"]["videos"]
    assert v["status"] == "ok"
    after = _listing(b)
    assert [k for k in after if k.startswith("_staging/")] == []  # staged chunks were merged and removed
    assert not any(d.exists() for d in left)  # a killed task's downloaded video does not outlive the rerun
    files_a = {k.split("/", 1)[1] for k in _listing(a) if k.startswith(f"{folder}/")}
    files_b = {k.split("/", 1)[1] for k in after if k.startswith(f"{folder}/")}
    assert files_a == files_b
    for name in sorted(files_a - {"result.json", "landmarks.parquet"}):
        assert a.child(folder).get_bytes(name) == b.child(folder).get_bytes(name), name
    # landmarks: the same values and metadata (timings live in the manifest, not in the file)
    ta, tb = (_landmarks(s.child(folder), tmp_path / n) for s, n in ((a, "a"), (b, "b")))
    assert ta[0].equals(tb[0])
    assert ta[1] == tb[1]


def _landmarks(store, d: Path):
    from signbridge.contracts import read_landmarks_metadata
    from signbridge.extract import read_landmarks

    table = read_landmarks(store.get_file("landmarks.parquet", d / "landmarks.parquet"))
    return table.replace_schema_metadata(None), read_landmarks_metadata(table)


def test_process_starts_the_embedded_store_when_no_endpoint(tmp_path):
    """No AWS_ENDPOINT_URL: `process` starts SeaweedFS (127.0.0.1) and hands its keys to the run."""
    from signbridge.orchestrate.embedded import ensure_store
    from signbridge.settings import load_settings
    from signbridge.storage import open_store
    from signbridge.storage.embedded import EmbeddedStore
    from tests.conftest import _free_port_block

    settings = load_settings(env={}, home=str(tmp_path / "home"), s3_port=_free_port_block())
    said: list[str] = []
    try:
        got, started = ensure_store(settings, ["/some/local/file.mp4"], said.append)
        assert started and got.s3_endpoint == f"http://127.0.0.1:{settings.s3_port}" and got.s3_access_key
        assert "started the embedded S3 store" in said[0]
        open_store("s3://signbridge/uploads", got, create=True).put_bytes("probe.txt", b"ok")
        again, started2 = ensure_store(settings, [], said.append)  # already running: reused, not restarted
        assert not started2 and again.s3_endpoint == got.s3_endpoint
        # local folders only: no store at all
        local = settings.replace(output=str(tmp_path / "o"), uploads=str(tmp_path / "u"))
        assert ensure_store(local.replace(s3_port=settings.s3_port + 1), [str(tmp_path)], said.append)[1] is False
    finally:
        EmbeddedStore(settings).down()
