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
import re
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
    env.update({"SIGNBRIDGE_HOME": str(home), "SIGNBRIDGE_RESULTS": str(home.parent / "results"),
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
    (base / "tmp").mkdir()
    env = _env(s3_server, base / "home", bucket, TMPDIR=str(base / "tmp"))  # every temporary file of the runs
    t0 = time.perf_counter()
    first, doc1 = _process([str(inputs)], env)
    t1 = time.perf_counter()
    out = open_store(f"{bucket}/outputs", s3_server)
    up = open_store(f"{bucket}/uploads", s3_server)
    snap_out, snap_up = _listing(out), _listing(up)
    second, doc2 = _process([str(inputs)], env)
    t2 = time.perf_counter()
    after_second = _listing(out)
    from_s3, doc3 = _process([f"{bucket}/uploads"], env)  # the uploaded objects, given as an s3:// prefix
    return {"from_s3": from_s3, "doc3": doc3, "after_second": after_second, "inputs": inputs, "broken": broken, "bucket": bucket, "out": out, "up": up, "first": first,
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
    after = accepted["after_second"]
    new = {k: e for k, e in after.items() if k not in accepted["snap_out"]}
    assert all(k.startswith(f"runs/{doc['manifest']['run_id']}/") for k in new), sorted(new)
    assert {k: after[k] for k in accepted["snap_out"]} == accepted["snap_out"]
    assert _listing(accepted["up"]) == accepted["snap_up"]  # uploads are content-addressed: no second copy


def test_an_s3_prefix_as_input_finds_every_video_under_it(accepted):
    """`process s3://bucket/prefix`: the videos under the prefix are the run's inputs (here all done before)."""
    res, doc = accepted["from_s3"], accepted["doc3"]
    assert doc is not None, res.stderr[-3000:]
    uploads = f"{accepted['bucket']}/uploads/"
    videos = {Path(v["input_uri"]).name: v for v in doc["manifest"]["videos"]}
    assert set(videos) == {Path(c).name for c in CLIPS} | {"broken.mp4"}
    assert all(v["input_uri"].startswith(uploads) for v in videos.values())
    assert {n: v["status"] for n, v in videos.items()} == {**{Path(c).name: "skipped" for c in CLIPS},
                                                           "broken.mp4": "failed"}
    first = {Path(v["input_uri"]).name: v for v in accepted["doc1"]["manifest"]["videos"]}
    assert all(videos[n]["outputs"] == first[n]["outputs"] for n in videos)  # the same results, found again
    assert _listing(accepted["up"]) == accepted["snap_up"]  # nothing uploaded again


def test_no_video_frame_is_left_on_disk(accepted):
    """Frames go from ffmpeg to MediaPipe through pipes: after the runs no image or video file exists anywhere
    under the runs' home or temporary folder (TMPDIR), and the scratch folders are gone."""
    base = accepted["base"]
    found = []
    results = base / "home" / "results"  # the copies of the outputs the user asked for (video.mp4 among them)
    for root in (base / "home", base / "tmp"):
        for f in root.rglob("*"):
            if f.is_file() and not f.is_relative_to(results) and (
                    f.suffix.lower() in FRAME_SUFFIXES or f.read_bytes()[:12].startswith(IMAGE_MAGIC)
                    or f.read_bytes()[4:8] == b"ftyp"):
                found.append(str(f))
    assert found == []
    scratch = base / "home" / "tmp"
    assert not scratch.exists() or [p for p in scratch.iterdir() if p.is_dir()] == []
    # and nothing in the temporary folder could hold a raw frame (288x192 in yuv420p is 83 KB)
    assert [f for f in (base / "tmp").rglob("*") if f.is_file() and f.stat().st_size > 4096] == []


FRAME_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".raw", ".yuv", ".rgb", ".mp4", ".mov", ".npy"}
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff")


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

    # disturbed: the DAG into outputs-b, held right after it stages its first chunk (signbridge.testhooks), then
    # killed there: no race with the extraction finishing first
    sync = tmp_path / "sync"
    sync.mkdir()
    (sync / "chunk-staged.barrier").write_text("hold")
    env_b = dict(env_a, SIGNBRIDGE_OUTPUT=f"{bucket}/outputs-b", SIGNBRIDGE_TEST_SYNC=str(sync))
    b = open_store(f"{bucket}/outputs-b", s3_server)
    proc = subprocess.Popen([sys.executable, "-m", "signbridge.cli", "process", "--json", str(long_clip)], env=env_b,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert _held(sync, "chunk-staged", proc, 300), "no chunk staged (did it plan the video as chunks?)"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    (sync / "chunk-staged.barrier").unlink()  # the rerun goes through
    killed_at = _listing(b)
    assert len([k for k in killed_at if k.startswith("_staging/")]) == 1  # killed exactly after the first chunk
    scratch = tmp_path / "home" / "tmp"
    left = [d for d in scratch.iterdir() if d.is_dir()] if scratch.is_dir() else []  # killed mid-task: its scratch
    assert not any(k == f"{folder}/landmarks.parquet" for k in killed_at)
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


def _held(sync: Path, name: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until a process of the run has arrived at sync point ``name`` (or the run ended first)."""
    deadline = time.monotonic() + timeout
    while not list(sync.glob(f"{name}.*.arrived")):
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


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


class _Outage:
    """A TCP forwarder in front of the S3 server. ``down()`` cuts every connection and refuses every new one
    except a bucket HEAD (the supervisor's health check): the store stops serving objects while it still looks
    alive, so the run waits for Airflow's retry instead of being stopped as a dead store."""

    def __init__(self, target: str):
        import socket
        import threading

        host, port = target.rsplit("//", 1)[1].split(":")
        self.target, self.up, self.conns, self.lock = (host, int(port)), True, [], threading.Lock()
        self.refused = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client) -> None:
        import re
        import socket
        import threading

        if not self.up:
            first = client.recv(4096, socket.MSG_PEEK).split(b"\r\n", 1)[0]
            if not re.fullmatch(rb"HEAD /[^/?]+/? HTTP/1\.1", first):
                self.refused += 1
                client.close()
                return
        server = socket.create_connection(self.target)
        with self.lock:
            self.conns += [client, server]
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def down(self) -> None:
        import socket

        self.up = False
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns.clear()

    def close(self) -> None:
        self.down()
        self.sock.close()


def _arrivals(sync: Path, name: str, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(list(sync.glob(f"{name}.*.arrived"))) < n:
        assert proc.poll() is None, f"the run ended before {n} arrival(s) at {name!r}"
        assert time.monotonic() < deadline, f"no {n}th arrival at {name!r} within {timeout} s"
        time.sleep(0.2)


def test_storage_outage_fails_the_task_and_airflow_retries_it(shared_data, s3_server, tmp_path):
    """The store stops serving objects while an extract task runs: the task fails (a storage error is not the
    video's fault), Airflow retries it once the store is back, and the video ends ok."""
    proxy = _Outage(s3_server.s3_endpoint)
    sync = tmp_path / "sync"
    sync.mkdir()
    (sync / "extract.barrier").write_text("2")  # try 1 waits for the test's go-ahead
    bucket = f"s3://outage-{uuid.uuid4().hex[:10]}"
    env = _env(s3_server, tmp_path / "home", bucket, AWS_ENDPOINT_URL=proxy.endpoint, SIGNBRIDGE_TTS="espeak",
               SIGNBRIDGE_TEST_SYNC=str(sync))
    out_f, err_f = open(tmp_path / "out.json", "w"), open(tmp_path / "err.txt", "w")  # files: no full pipe stalls it
    proc = subprocess.Popen([sys.executable, "-m", "signbridge.cli", "process", "--json", str(shared_data / CLIPS[0])],
                            env=env, stdout=out_f, stderr=err_f, start_new_session=True)
    try:
        _arrivals(sync, "extract", 1, proc)  # try 1 is inside the extract task
        proxy.down()
        (sync / "extract.barrier").write_text("4")  # try 2 will wait for the test too
        (sync / "extract.test.0.arrived").touch()  # let try 1 go on, into the outage
        _arrivals(sync, "extract", 3, proc)  # try 1 failed and Airflow started try 2
        proxy.up = True
        (sync / "extract.test.1.arrived").touch()
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proxy.close()
        out_f.close()
        err_f.close()
    out, err = (tmp_path / "out.json").read_text(), (tmp_path / "err.txt").read_text()
    assert proc.returncode == 0, err[-3000:]
    assert proxy.refused > 0  # try 1 did meet the outage
    doc = json.loads(out)
    (extract,) = [t for t in doc["tasks"] if t["task_id"] == "extract"]
    assert extract["try_number"] == 2 and extract["state"].endswith("success"), extract
    (v,) = doc["manifest"]["videos"]
    assert v["status"] == "ok" and v["outputs"]["video"].startswith(f"{bucket}/outputs/")


def test_process_without_endpoint_starts_the_store_and_prints_the_summary(shared_data, tmp_path):
    """The README's first command as a new user runs it: no AWS_ENDPOINT_URL, no --json. It starts the embedded
    store, runs the video and prints where each result is, the per-video summary table and the manifest."""
    from signbridge.settings import load_settings
    from signbridge.storage import open_store
    from signbridge.storage.embedded import EmbeddedStore
    from tests.conftest import _free_port_block

    home, port = tmp_path / "home", _free_port_block()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(home), "SIGNBRIDGE_S3_PORT": str(port), "SIGNBRIDGE_TTS": "espeak",
                "SIGNBRIDGE_RESULTS": str(tmp_path / "results")})
    clip = shared_data / CLIPS[1]
    try:
        res = subprocess.run([sys.executable, "-m", "signbridge.cli", "process", str(clip)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        out = res.stdout
        assert f"started the embedded S3 store (SeaweedFS) at http://127.0.0.1:{port}" in out
        lines = out.splitlines()
        head = next(i for i, line in enumerate(lines) if line.startswith("video "))
        assert lines[head].split() == ["video", "status", "signs", "unclear", "sentences", "hands", "extract",
                                       "recog", "compose", "speak", "mux", "note"]
        assert set(lines[head + 1].replace(" ", "")) == {"-"}
        row = lines[head + 2].split()
        assert row[0].endswith(clip.name) and row[1] == "ok" and row[5].endswith("%"), row
        assert all(re.fullmatch(r"\d+\.\ds", cell) for cell in row[6:11]), row  # seconds of each stage
        assert re.search(r"run \S+: 1 video\(s\), 1 ok in [\d.]+ s", out)
        manifest_uri = re.search(r"^manifest: (s3://signbridge/outputs/runs/\S+/manifest\.json)$", out, re.M).group(1)
        video = Path(re.search(r"^    video +(\S+/video\.mp4)$", out, re.M).group(1))  # the local copy
        assert video.is_file() and video.is_relative_to(tmp_path / "results")
        assert re.search(r"^results: +" + re.escape(str(tmp_path / "results")), out, re.M)
        store = EmbeddedStore(load_settings(env={}, home=str(home), s3_port=port))
        outputs = open_store("s3://signbridge/outputs", store.client_settings())
        assert outputs.exists(manifest_uri[len("s3://signbridge/outputs/"):])
        assert any(o.key.endswith("/video.mp4") for o in outputs.list())
    finally:
        down = subprocess.run([sys.executable, "-m", "signbridge.cli", "storage", "down"], env=env,
                              capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and "stopped" in down.stdout
