"""The review page in a real browser (Debian chromium driven by Selenium) over a real run's results,
plus its access rules and concurrent saves, against the real server process (`signbridge review`)."""
from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import wave
from pathlib import Path

import pytest

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "images"


@contextlib.contextmanager
def review_server(results: Path, env: dict[str, str], tmp: Path):
    """`signbridge review RESULTS --port 0` in its own process, with its own empty TMPDIR; stopped by PID."""
    tmp.mkdir(exist_ok=True)
    env = {**env, "TMPDIR": str(tmp), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "signbridge.cli", "review", str(results), "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    try:
        url, said = None, []
        while url is None:
            line = lines.get(timeout=60)
            said.append(line)
            url = line.strip() if line.strip().startswith("http://") else None
        base, token = url.split("/?token=")
        yield type("Server", (), {"base": base, "token": token, "url": url, "pid": proc.pid, "tmp": tmp,
                                  "said": "".join(said)})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(copy_results, tmp_path):
    """The review server over a private copy of the processed clip's results."""
    with review_server(copy_results.out, {**os.environ, "SIGNBRIDGE_HOME": str(copy_results.home)},
                       tmp_path / "server-tmp") as srv:
        srv.results = copy_results
        yield srv


def call(srv, path, body=None, token=True, headers=None):
    """(status, body bytes, headers) of one request; the token goes in the Authorization header."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {srv.token if token is True else token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(srv.base + path, data=data, headers=h, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def pcm(path: Path):
    import numpy as np

    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


def test_review_in_a_browser_then_revise(server, browser):
    """Open the run, play the video, correct the second sign (-> DRINK), save, render: the captions
    say the corrected word and the first sentence's narration is byte-identical to the machine's."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    res = server.results
    machine = [s["label"] for s in json.loads((res.folder / "gloss_track.json").read_text())["spans"]]
    said = json.loads((res.folder / "transcript.json").read_text())["sentences"]  # the machine's sentences
    wait = WebDriverWait(browser, 60)
    js = browser.execute_script
    browser.get(server.url)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#videos tbody a"))
    row = browser.find_element(By.CSS_SELECTOR, "#videos tbody tr").text
    assert "go_eat.mp4" in row and " ok " in f" {row} " and row.endswith("no model")
    SHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SHOTS / "review-index.png"))
    browser.find_element(By.ID, "filter").send_keys("nothing-like-this")
    assert browser.find_element(By.ID, "empty").is_displayed()
    browser.find_element(By.ID, "filter").clear()
    browser.find_element(By.ID, "reviewed").send_keys("not reviewed")
    assert not browser.find_element(By.ID, "empty").is_displayed()

    browser.find_element(By.CSS_SELECTOR, "#videos tbody a").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline .span")) == 2)
    wait.until(lambda d: js("return document.getElementById('player').readyState") >= 2)
    js("const v = document.getElementById('player'); v.muted = true; v.play();")
    wait.until(lambda d: js("return document.getElementById('player').currentTime") > 0.3)  # it plays
    assert js("return document.getElementById('player').textTracks[0].mode") == "showing"
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#preview li")] == [
        f"{s['start_ms'] / 1000:.1f} s {s['text']}" for s in said]

    js("document.getElementById('player').pause()")
    browser.find_element(By.CSS_SELECTOR, '#timeline .span[data-index="0"]').click()  # a click seeks the video
    wait.until(lambda d: js("return document.getElementById('player').currentTime") < 0.05)
    browser.find_element(By.TAG_NAME, "body").send_keys("n")  # the key steps to the next sign, and seeks
    wait.until(lambda d: abs(js("return document.getElementById('player').currentTime") - 4.2) < 0.05)
    assert "selected" in browser.find_element(By.CSS_SELECTOR, '#timeline .span[data-index="1"]').get_attribute("class")
    gloss = browser.find_element(By.ID, "gloss")
    gloss.clear()
    gloss.send_keys("drink")
    browser.find_element(By.ID, "apply").click()
    wait.until(lambda d: "4.2 s Drink." in d.find_element(By.ID, "preview").text)  # preview follows the edit
    browser.find_element(By.ID, "reviewer").send_keys("Test Reviewer")
    browser.find_element(By.ID, "save").click()
    wait.until(lambda d: "saved revision" in d.find_element(By.ID, "message").text)
    js("document.getElementById('player').currentTime = 5.6")  # a frame of the corrected sign for the docs
    wait.until(lambda d: js("const v = document.getElementById('player'); return !v.seeking && v.readyState >= 2"))
    browser.save_screenshot(str(SHOTS / "review-video.png"))
    browser.find_element(By.ID, "render").click()
    WebDriverWait(browser, 180).until(lambda d: "rendered revision" in d.find_element(By.ID, "message").text)
    assert "1 of 2 sentences unchanged" in browser.find_element(By.ID, "message").text

    (rev,) = (res.folder / "review" / "revisions").iterdir()
    doc = json.loads(rev.read_text())
    assert doc["review"]["reviewer"] == "Test Reviewer" and doc["review"]["sources"] == ["model", "reviewer"]
    assert [s["label"] for s in doc["spans"]] == [machine[0], "drink"]
    assert json.loads((res.folder / "gloss_track.json").read_text())["spans"][1]["label"] == machine[1]  # untouched
    srt = (res.folder / "captions.srt").read_text()
    assert "Drink." in srt and said[0]["text"].rstrip(".") in srt  # the unchanged sentence keeps its words
    current = json.loads((res.folder / "review" / "current.json").read_text())
    assert current["revision"] == rev.stem and current["kept_sentences"] == [0]
    assert json.loads((res.folder / "transcript.json").read_text())["revision"]["id"] == rev.stem
    # the first sentence's narration is the machine's, sample for sample; the second was re-narrated
    old, sr = pcm(res.folder / "review" / "renders" / "model" / "narration.wav")
    new, _ = pcm(res.folder / "narration.wav")
    cut = round(4200 * sr / 1000)
    assert old.size == new.size and old[:cut].tobytes() == new[:cut].tobytes() and old[:cut].any()
    assert old[cut:].tobytes() != new[cut:].tobytes()
    # the muxed video carries the corrected captions; the previous render stays retrievable
    subs = subprocess.run(["ffmpeg", "-v", "error", "-i", str(res.folder / "video.mp4"), "-map", "0:s:0", "-f", "srt",
                           "-"], capture_output=True, text=True, check=True).stdout
    assert "Drink." in subs
    status, body, _ = call(server, f"/media/{res.vid}/renders/model/captions.srt")
    assert status == 200 and said[1]["text"].encode() in body

    browser.get("about:blank")  # the page is closed: nothing of the video was left on disk
    # (onnxruntime writes a 51-byte session id, ".ses", to TMPDIR when imported: not ours, not video)
    assert [p.name for p in server.tmp.iterdir() if p.name != ".ses"] == []
    assert [p for p in (res.home / "tmp").glob("*")] == [] if (res.home / "tmp").exists() else True
    assert sorted(p.suffix for p in res.folder.rglob("*.mp4")) == [".mp4"] * 3  # current + model + revision
    assert not [p for p in res.out.rglob("*") if p.name.startswith((".tmp-", "revise-"))]


def test_split_merge_move_unknown_and_not_a_sign(server, browser):
    """The other edits, through the page's buttons and keys; the saved revision holds exactly them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    js = browser.execute_script
    browser.get(f"{server.base}/v/{server.results.vid}?token={server.token}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline .span")) == 2)
    wait.until(lambda d: js("return document.getElementById('player').readyState") >= 1)
    body = browser.find_element(By.TAG_NAME, "body")
    preview = lambda: browser.find_element(By.ID, "preview").text  # noqa: E731

    body.send_keys("n")  # GO selected
    js("document.getElementById('player').currentTime = 1.0")
    wait.until(lambda d: not js("return document.getElementById('player').seeking"))
    body.send_keys("s")  # split GO at 1.0 s: GO GO | EAT
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline .span")) == 3)
    body.send_keys("u")  # the first half is UNKNOWN
    wait.until(lambda d: "[unclear sign]" in preview())
    body.send_keys("m")  # merged back with the second half (which keeps the UNKNOWN label of the first)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline .span")) == 2)
    start, end = browser.find_element(By.ID, "start"), browser.find_element(By.ID, "end")
    start.clear(), start.send_keys("200"), end.clear(), end.send_keys("2400")
    browser.find_element(By.ID, "move").click()
    body.send_keys("n", "x")  # the second sign is not a sign
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline .span")) == 1)
    assert preview().count("[unclear sign]") == 1
    assert "unclear" in browser.find_element(By.CSS_SELECTOR, "#timeline .span").get_attribute("class")
    browser.find_element(By.ID, "reviewer").send_keys("Keys")
    browser.find_element(By.ID, "save").click()
    wait.until(lambda d: "saved revision" in d.find_element(By.ID, "message").text)
    (rev,) = (server.results.folder / "review" / "revisions").iterdir()
    doc = json.loads(rev.read_text())
    assert [(s["label"], s["kind"], s["start_ms"], s["end_ms"]) for s in doc["spans"]] == [
        ("UNKNOWN", "unknown", 200, 2400)]
    assert doc["review"]["sources"] == ["reviewer"]


def _listening_address(port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if int(p, 16) == port and state == "0A":  # LISTEN
            return ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on port {port}")


def test_access_needs_the_token_and_stays_inside_the_results(server):
    vid = server.results.vid
    assert server.base.startswith("http://127.0.0.1:")
    assert _listening_address(int(server.base.rsplit(":", 1)[1])) == "127.0.0.1"
    for path in ("/", "/api/videos", f"/v/{vid}", f"/media/{vid}/source", f"/media/{vid}/captions.vtt"):
        assert call(server, path, token=False)[0] == 403, path
        assert call(server, path, token="wrong-token")[0] == 403, path
    edit = {"reviewer": "x", "spans": [], "sources": []}
    assert call(server, f"/api/videos/{vid}/revisions", edit, token=False)[0] == 403
    assert not (server.results.folder / "review").exists()

    # the token in the URL once sets a cookie that works alone (what the <video> element relies on)
    status, _, headers = call(server, f"/?token={server.token}", token=False)
    cookie = headers["set-cookie"].split(";")[0]
    assert status == 200 and "HttpOnly" in headers["set-cookie"]
    assert call(server, "/api/videos", token=False, headers={"Cookie": cookie})[0] == 200

    for path in ("/api/videos/..%2F..%2Fetc", "/api/videos/runs", f"/media/{vid}%2F..%2F..%2Fgo_eat.mp4/source",
                 "/media/0123456789abcdef-0123456789/source", f"/media/{vid}/renders/..%2F..%2F/captions.srt",
                 f"/media/{vid}/renders/model/landmarks.parquet", "/static/..%2Fapp.py", "/static/app.py"):
        status, body, _ = call(server, path)
        assert status in (400, 404), (path, status, body[:200])
    status, body, _ = call(server, f"/api/videos/{vid}/restore", {"revision": "../../gloss_track", "reviewer": "x"})
    assert status == 400 and b"not a revision id" in body

    # the original video is streamed by byte range from where the run read it
    data = server.results.video.read_bytes()
    status, body, headers = call(server, f"/media/{vid}/source", headers={"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200] and headers["content-range"] == f"bytes 100-199/{len(data)}"
    status, body, _ = call(server, f"/media/{vid}/source", headers={"Range": "bytes=-10"})
    assert status == 206 and body == data[-10:]
    assert call(server, f"/media/{vid}/source", headers={"Range": f"bytes={len(data)}-"})[0] == 416


def test_two_saves_at_once_keep_both_revisions_in_order(server):
    vid = server.results.vid
    _, body, _ = call(server, f"/api/videos/{vid}")
    spans = json.loads(body)["track"]["spans"]
    barrier = threading.Barrier(2)
    out: dict[str, tuple] = {}

    def save(label: str) -> None:
        relabelled = {k: v for k, v in spans[1].items() if k != "tier"}  # the reviewer's word, as the page sends it
        edit = [dict(spans[0]), {**relabelled, "label": label, "kind": "gloss", "confidence": 1.0}]
        barrier.wait()
        out[label] = call(server, f"/api/videos/{vid}/revisions",
                          {"reviewer": f"reviewer-{label}", "spans": edit, "sources": ["model", "reviewer"]})

    threads = [threading.Thread(target=save, args=(g,)) for g in ("drink", "food")]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert {k: v[0] for k, v in out.items()} == {"drink": 201, "food": 201}
    ids = {k: json.loads(v[1])["id"] for k, v in out.items()}
    stored = sorted(p.stem for p in (server.results.folder / "review" / "revisions").iterdir())
    assert stored == sorted(ids.values())
    docs = [json.loads((server.results.folder / "review" / "revisions" / f"{i}.json").read_text()) for i in stored]
    assert {d["spans"][1]["label"]: d["review"]["reviewer"] for d in docs} == {
        "drink": "reviewer-drink", "food": "reviewer-food"}
    assert [d["review"]["created_at"] for d in docs] == sorted(d["review"]["created_at"] for d in docs)
    _, body, _ = call(server, f"/api/videos/{vid}")
    detail = json.loads(body)
    assert [r["id"] for r in detail["revisions"]] == stored and detail["revision"] == stored[-1]
    assert json.loads(call(server, "/api/videos")[1])["videos"][0]["queued"] is True


SB = [sys.executable, "-m", "signbridge.cli"]


def _store_env(s3, home: Path, bucket: str) -> dict[str, str]:
    """What a user's shell holds for a run in this store: nothing else of this machine's SignBridge set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(home), "AWS_ENDPOINT_URL": s3.s3_endpoint, "AWS_ACCESS_KEY_ID": s3.s3_access_key,
                "AWS_SECRET_ACCESS_KEY": s3.s3_secret_key, "SIGNBRIDGE_UPLOADS": f"{bucket}/uploads",
                "SIGNBRIDGE_OUTPUT": f"{bucket}/outputs", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    return env


@pytest.fixture(scope="module")
def process_results(go_eat_video, s3_server, tmp_path_factory):
    """The clip as `signbridge process` leaves it, without Airflow's start-up: uploaded by process's upload
    step, its results written to S3 by the pipeline's steps (`signbridge run`), and the run's local results
    folder written by the code `process` writes ./signbridge-results with (`signbridge results --to`).
    Shared by this module's tests, which each count the revisions they add."""
    import uuid
    from types import SimpleNamespace

    from signbridge.orchestrate.embedded import upload_inputs
    from signbridge.storage import open_store

    base = tmp_path_factory.mktemp("process-results")
    bucket = f"s3://t-{uuid.uuid4().hex[:12]}"
    open_store(bucket, s3_server, create=True)
    env = _store_env(s3_server, base / "home", bucket)
    (uri,), bad = upload_inputs([str(go_eat_video)], s3_server.replace(uploads=env["SIGNBRIDGE_UPLOADS"]),
                                lambda _: None)
    assert bad == []
    run = subprocess.run(SB + ["run", uri, "-o", env["SIGNBRIDGE_OUTPUT"], "--workers", "1"], env=env,
                         capture_output=True, text=True, timeout=600, cwd=base)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    local = base / "signbridge-results"
    got = subprocess.run(SB + ["results", "latest", "--to", str(local)], env=env, capture_output=True, text=True,
                         timeout=300, cwd=base)
    assert got.returncode == 0, got.stderr
    manifest = json.loads((local / "manifest.json").read_text())
    out = open_store(env["SIGNBRIDGE_OUTPUT"], s3_server)
    (video,) = manifest["videos"]
    vid = video["outputs"]["video"][len(out.root_uri) + 1:].split("/")[0]
    return SimpleNamespace(env=env, base=base, local=local, manifest=manifest, out=out, vid=vid,
                           folder=out.child(vid), settings=s3_server)


def _revisions(folder) -> list[str]:
    return sorted(o.key for o in folder.list("review/revisions/"))


def _same_files(local: Path, folder) -> None:
    """The local copy's video folder holds the store folder's current outputs, byte for byte."""
    import hashlib

    for name in ("captions.srt", "captions.vtt", "transcript.json", "narration.wav", "video.mp4", "gloss_track.json"):
        assert hashlib.sha256((local / name).read_bytes()).digest() == \
            hashlib.sha256(folder.get_bytes(name)).digest(), name
    assert not (local / "review").exists()  # never edited in place


def test_review_a_process_run_through_its_local_results(process_results, browser):
    """`signbridge review ./signbridge-results` lists the run's videos; a correction saved and rendered
    there lands in the store's result folder and is copied into the local results, whose report then
    plays and links the local files (the store's report is left as it was)."""
    import re
    from urllib.parse import unquote, urlparse

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    r = process_results
    out, folder, run_id = r.out, r.folder, r.manifest["run_id"]
    store_report = out.get_bytes(f"runs/{run_id}/report.html")
    before = _revisions(folder)
    wait = WebDriverWait(browser, 60)
    js = browser.execute_script
    with review_server(r.local, r.env, r.base / "server-tmp") as srv:
        assert f"results in {out.root_uri}" in srv.said and str(r.local) in srv.said
        browser.get(srv.url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#videos tbody a"))
        assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#videos tbody a")] == ["go_eat.mp4"]
        header = browser.find_element(By.ID, "results").text
        assert f"run {run_id}" in header and str(r.local) in header and out.root_uri in header
        browser.find_element(By.CSS_SELECTOR, "#videos tbody a").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline .span")) == 2)
        wait.until(lambda d: js("return document.getElementById('player').readyState") >= 2)  # read from S3
        browser.find_element(By.CSS_SELECTOR, '#timeline .span[data-index="1"]').click()
        gloss = browser.find_element(By.ID, "gloss")
        gloss.clear()
        gloss.send_keys("drink")
        browser.find_element(By.ID, "apply").click()
        wait.until(lambda d: "4.2 s Drink." in d.find_element(By.ID, "preview").text)
        browser.find_element(By.ID, "reviewer").send_keys("Local Reviewer")
        browser.find_element(By.ID, "save").click()
        wait.until(lambda d: "saved revision" in d.find_element(By.ID, "message").text)
        browser.find_element(By.ID, "render").click()
        WebDriverWait(browser, 180).until(lambda d: "rendered revision" in d.find_element(By.ID, "message").text)
        assert f"local copy {r.local} updated" in browser.find_element(By.ID, "message").text

    # the store holds the revision and the render (the source of truth); the local copy has the new files
    (rev,) = set(_revisions(folder)) - set(before)
    assert json.loads(folder.get_bytes(rev))["review"]["reviewer"] == "Local Reviewer"
    assert json.loads(folder.get_bytes("review/current.json"))["revision"] == Path(rev).stem
    assert "Drink." in folder.get_bytes("captions.srt").decode()
    _same_files(r.local / "go_eat", folder)

    # the local report links and plays the local files; its captions track is the rendered one
    report = (r.local / "report.html").read_text()
    targets = re.findall(r'<(?:a|source|track) [^>]*?(?:href|src)="([^"]*)"', report)
    assert targets and not [t for t in targets if "://" in t or not (r.local / unquote(t)).is_file()]
    assert '">go_eat/video.mp4</a>' in report and "NOTE signbridge revision" in report
    assert out.get_bytes(f"runs/{run_id}/report.html") == store_report  # the store's report stays as it was
    assert re.search(r'href="http://[^"]+" data-uri="s3://', store_report.decode())
    browser.get((r.local / "report.html").as_uri())
    wait.until(lambda d: js("return document.querySelector('video').readyState") >= 1)  # the local video.mp4
    wait.until(lambda d: js("return document.querySelector('track').readyState") == 2)
    cues = js("return Array.from(document.querySelector('track').track.cues).map(c => c.text)")
    assert cues[-1] == "Drink."
    for href in [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]:
        assert href.startswith("file://") and Path(unquote(urlparse(href).path)).is_file(), href


def test_review_of_a_folder_without_results_is_one_clear_error(tmp_path):
    """An empty folder, a folder of videos, a missing folder: one line naming what was expected and the
    command that works, before any server starts."""
    home = tmp_path / "home"
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "clip.mp4").write_bytes(b"\x00" * 64)
    (tmp_path / "empty").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNBRIDGE_", "AWS_", "AIRFLOW"))}
    env.update({"SIGNBRIDGE_HOME": str(home), "SIGNBRIDGE_OUTPUT": str(tmp_path / "output"),
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    for target, what in ((videos, "holds no results to review"), (tmp_path / "empty", "holds no results to review"),
                         (tmp_path / "missing", "does not exist")):
        res = subprocess.run(SB + ["review", str(target), "--port", "0"], env=env, capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
        assert res.returncode == 1 and res.stdout == "", (res.stdout, res.stderr)
        (line,) = res.stderr.splitlines()
        assert line.startswith(f"signbridge review: error: {target}: {what}: expected a run's local results"), line
        assert "`signbridge process VIDEOS` writes ./signbridge-results, then `signbridge review " \
               "./signbridge-results`" in line


def test_revise_a_folder_of_the_local_results_revises_the_store(process_results, tmp_path):
    """`signbridge revise signbridge-results/<video>` does what the review page does: the revision and the
    render go to the run's result folder in the store, the local copy gets the new files. A folder with no
    results names the command that would open them."""
    r = process_results
    before = _revisions(r.folder)
    doc = json.loads((r.local / "go_eat" / "gloss_track.json").read_text())
    doc["spans"][0].update(label="drink", kind="gloss", confidence=1.0)  # the reviewer's word, as the page sends it
    doc["spans"][0].pop("tier", None)
    doc["review"] = {"sources": ["reviewer", "model"]}
    edit = tmp_path / "edit.json"
    edit.write_text(json.dumps(doc))
    res = subprocess.run(SB + ["revise", str(r.local / "go_eat"), "--gloss-track", str(edit), "--reviewer", "cli"],
                         env=r.env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"video.mp4        {r.folder.uri('video.mp4')}" in res.stdout
    assert f"local copy updated: 7 file(s) in {r.local / 'go_eat'}" in res.stdout
    (rev,) = set(_revisions(r.folder)) - set(before)
    assert json.loads(r.folder.get_bytes("review/current.json"))["revision"] == Path(rev).stem
    assert json.loads(r.folder.get_bytes(rev))["spans"][0]["label"] == "drink"
    _same_files(r.local / "go_eat", r.folder)
    assert (r.local / "go_eat" / "captions.srt").read_text().split("\n")[2] == "Drink."

    (tmp_path / "empty").mkdir()
    for results, hint in ((tmp_path / "none-here", f"`signbridge review` with no argument opens the store's "
                                                   f"results in {r.env['SIGNBRIDGE_OUTPUT']}"),
                          (r.local, f"its local results are opened with `signbridge review {r.local}`")):
        res = subprocess.run(SB + ["review", str(tmp_path / "empty")], capture_output=True, text=True, timeout=60,
                             env={**r.env, "SIGNBRIDGE_RESULTS": str(results)}, cwd=tmp_path)
        assert res.returncode == 1 and res.stderr.strip().endswith(f"({hint})"), res.stderr
