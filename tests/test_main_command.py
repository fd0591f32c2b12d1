"""`signbridge process` under real use, on a real SeaweedFS, real Airflow and real clips.

A bad prefix fails before the DAG, naming the key; Ctrl-C (SIGINT) mid-run stops every process of
the run, marks it cancelled, and a rerun completes; a store killed mid-run is reported in under a
minute; the results copied by `signbridge results --to` match the store's checksums; the report
has a link per output and a player with a captions track, as headless Chromium sees it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import _free_port_block

CLIPS = ["wlasl_clips/01377.mp4", "wlasl_clips/62746.mp4"]
SB = [sys.executable, "-m", "signbridge.cli"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(home), "SIGNBRIDGE_RESULTS": str(home / "results"), **extra})
    return env


def _store_env(settings, home: Path, bucket: str, **extra: str) -> dict[str, str]:
    return _env(home, AWS_ENDPOINT_URL=settings.s3_endpoint, AWS_ACCESS_KEY_ID=settings.s3_access_key,
                AWS_SECRET_ACCESS_KEY=settings.s3_secret_key, SIGNBRIDGE_UPLOADS=f"{bucket}/uploads",
                SIGNBRIDGE_OUTPUT=f"{bucket}/outputs", **extra)


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line or environment names ``text`` (this test's own run, by its home)."""
    import psutil

    out = []
    for p in psutil.process_iter():
        try:
            if p.pid == os.getpid() or p.status() == psutil.STATUS_ZOMBIE:
                continue
            blob = " ".join(p.cmdline()) + " " + " ".join(f"{k}={v}" for k, v in p.environ().items())
        except psutil.Error:
            continue
        if text in blob:
            out.append(p.pid)
    return out


def _wait_for(proc: subprocess.Popen, stderr_path: Path, *needles: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(n in stderr_path.read_text(errors="replace") for n in needles):
            return
        assert proc.poll() is None, stderr_path.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"{needles!r} not seen within {timeout} s:\n{stderr_path.read_text()[-3000:]}")


def _folder(video: dict) -> str:
    """The result folder a manifest entry's outputs live in (``<output>/<folder>/<file>``)."""
    uri = next(iter(video["outputs"].values()))
    return uri.rsplit("/", 2)[-2]


def test_dotdot_prefix_fails_before_the_dag_naming_it(tmp_path):
    bad = "s3://signbridge/outputs/../elsewhere"
    t0 = time.monotonic()
    res = subprocess.run(SB + ["process", str(tmp_path)], env=_env(tmp_path / "home", SIGNBRIDGE_OUTPUT=bad),
                         capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    assert res.returncode == 1 and took < 60, (took, res.stderr)
    assert "outputs/../elsewhere" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "home" / "airflow").exists()  # refused before any Airflow set-up


@pytest.fixture(scope="module")
def clips(shared_data, tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    for c in CLIPS:
        shutil.copy(shared_data / c, d / Path(c).name)
    (d / "62746.vocab.txt").write_text("# the signs of this clip's lesson\nweek\nmonth\nyear\n")  # a sidecar word list
    return d


@pytest.fixture(scope="module")
def cancelled_then_done(clips, s3_server, tmp_path_factory):
    """A run stopped with SIGINT once its DAG is extracting, then the same command again."""
    base = tmp_path_factory.mktemp("sigint")
    home = base / "home"
    env = _store_env(s3_server, home, f"s3://main-{uuid.uuid4().hex[:10]}")
    err = base / "first.err"
    with open(err, "w") as f:
        proc = subprocess.Popen(SB + ["process", str(clips)], env=env, stdout=subprocess.DEVNULL, stderr=f,
                                cwd=base)
    try:
        _wait_for(proc, err, "now: extract")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
        stop_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    left = _pids_mentioning(str(home / "airflow"))
    from signbridge.storage import open_store

    out = open_store(env["SIGNBRIDGE_OUTPUT"], s3_server)
    finals = {o.key: o.etag for o in out.list() if not o.key.startswith(("runs/", "_index/", "_staging/"))}
    second = subprocess.run(SB + ["process", "--json", str(clips)], env=env, capture_output=True, text=True,
                            timeout=600, cwd=base)
    return {"rc": rc, "stop_s": stop_s, "left": left, "stderr": err.read_text(), "second": second,
            "env": env, "base": base, "finals": finals, "out": out}


def test_sigint_stops_every_process_and_marks_the_run(cancelled_then_done, s3_server):
    from signbridge.storage import open_store

    r = cancelled_then_done
    assert r["rc"] == 130, r["stderr"][-2000:]
    assert r["stop_s"] < 15, r["stop_s"]
    print(f"SIGINT: process exited {r['stop_s']:.1f} s after the signal")
    assert r["left"] == [], f"processes of the run still alive: {r['left']}"
    assert "stopped by SIGINT" in r["stderr"] and "Traceback" not in r["stderr"]
    runs = open_store(r["env"]["SIGNBRIDGE_OUTPUT"] + "/runs", s3_server)
    cancelled = [o.key for o in runs.list() if o.key.endswith("/cancelled.json")]
    assert len(cancelled) == 1
    assert json.loads(runs.get_bytes(cancelled[0]))["state"] == "cancelled"
    # what the stopped run left under final keys is whole: readable, and kept as it was by the rerun
    import pyarrow.parquet as pq

    out, finals = r["out"], r["finals"]
    for key, etag in finals.items():
        assert {o.key: o.etag for o in out.list(key)}[key] == etag, key
        if key.endswith(".parquet"):
            pq.read_table(out.get_file(key, r["base"] / "check" / key))
        elif key.endswith(".mp4"):
            subprocess.run(["ffprobe", "-v", "error", str(out.get_file(key, r["base"] / "check" / key))], check=True)


def test_rerun_after_sigint_completes_and_results_match_the_store(cancelled_then_done, s3_server, tmp_path):
    from signbridge.storage import open_store

    r = cancelled_then_done
    res = r["second"]
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(res.stdout)
    # a video the stopped run had already finished (its result.json under a final key) is skipped, the
    # rest are done now: on a fast machine both can finish in the seconds between SIGINT and the stop
    finished = {k.split("/")[0] for k in r["finals"] if k.endswith("/result.json")}
    got = {_folder(v): v["status"] for v in doc["manifest"]["videos"]}
    assert len(got) == 2 and got == {f: "skipped" if f in finished else "ok" for f in got}, (got, finished)
    print(f"rerun: {sorted(got.values())} ({len(finished)} finished before the stop)")
    local = Path(doc["local_results"])
    assert local == Path(r["env"]["SIGNBRIDGE_RESULTS"]).resolve()
    # `signbridge results RUN --to DIR` gives the files the store holds, byte for byte
    to = tmp_path / "copy"
    got = subprocess.run(SB + ["results", doc["manifest"]["run_id"], "--to", str(to)], env=r["env"],
                         capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    out = open_store(r["env"]["SIGNBRIDGE_OUTPUT"], s3_server)
    prefix = out.root_uri + "/"
    for v in doc["manifest"]["videos"]:
        for name, uri in v["outputs"].items():
            rel = Path(Path(v["input_uri"]).stem) / Path(uri).name
            want = hashlib.sha256(out.get_bytes(uri[len(prefix):])).hexdigest()
            for root in (to, local):
                assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == want, (root, rel)
    again = subprocess.run(SB + ["results", doc["manifest"]["run_id"], "--to", str(to)], env=r["env"],
                           capture_output=True, text=True, timeout=300)
    assert "(0 copied, 14 already there)" in again.stdout  # resumable: nothing copied twice
    assert (to / "manifest.json").is_file() and (to / "report.html").is_file()


def test_a_sidecar_word_list_travels_with_its_video_through_the_dag(cancelled_then_done):
    """The local sidecar is uploaded beside its video; the DAG's discover finds it there and recognition uses it."""
    doc = json.loads(cancelled_then_done["second"].stdout)
    by = {Path(v["input_uri"]).name: v for v in doc["manifest"]["videos"]}
    assert by["62746.mp4"]["detection"].get("hints") == "word list 62746.vocab.txt: 3 of 3 words matched", \
        (by["62746.mp4"], cancelled_then_done["second"].stderr[-1500:])
    assert "hints" not in by["01377.mp4"]["detection"]
    track = json.loads(cancelled_then_done["out"].get_bytes(
        by["62746.mp4"]["outputs"]["gloss_track"].split("/outputs/", 1)[1]))
    assert all(s["label"] in ("week", "month", "year") for s in track["spans"] if s["kind"] == "gloss")


def test_report_has_links_and_players_in_chromium(cancelled_then_done, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: ./sb's set-up installs it, so the set-up is broken")
    report = Path(json.loads(cancelled_then_done["second"].stdout)["local_report"])
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                          report.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<video") == 2 and dom.count("<track") == 2, dom[:2000]
    assert 'href="manifest.json"' in dom and (report.parent / "manifest.json").is_file()
    for name in ("video.mp4", "captions.srt", "captions.vtt", "narration.wav", "transcript.json",
                 "gloss_track.json", "landmarks.parquet"):
        assert f'/{name}"' in dom, name
    assert "blob:" in dom  # the captions track was handed its same-origin copy by the page's script


def test_dead_store_is_reported_within_a_minute(clips, tmp_path):
    """The embedded store (private port) dies after the DAG started: reported in < 60 s, nothing left."""
    from signbridge.settings import load_settings
    from signbridge.storage.embedded import EmbeddedStore

    home = tmp_path / "home"
    port = _free_port_block()
    env = _env(home, SIGNBRIDGE_S3_PORT=str(port))
    store = EmbeddedStore(load_settings(env={}, home=str(home), s3_port=port))
    err = tmp_path / "err"
    with open(err, "w") as f:
        proc = subprocess.Popen(SB + ["process", str(clips)], env=env, stdout=subprocess.DEVNULL, stderr=f,
                                cwd=tmp_path)
    try:
        _wait_for(proc, err, "now: queued", "now: discover", "now: extract")  # the DAG is running
        store.down(timeout=4)
        t0 = time.monotonic()
        rc = proc.wait(timeout=120)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        store.down(timeout=4)
    text = err.read_text()
    print(f"dead store: reported and stopped {took:.1f} s after the store was killed")
    assert rc == 1 and took < 60, (took, text[-2000:])
    assert f"127.0.0.1:{port} stopped answering" in text, text[-2000:]
    assert _pids_mentioning(str(home / "airflow")) == []
