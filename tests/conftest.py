"""Shared fixtures: the research data beside the checkout, and a real SeaweedFS."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SIGNBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    if not (SHARED_DATA / "SOURCES.md").is_file():
        pytest.skip(f"research data not found at {SHARED_DATA} (set SIGNBRIDGE_SHARED_DATA or place it at ../shared/data)")
    return SHARED_DATA


def _free_port_block(n: int = 5) -> int:
    from signbridge.storage.embedded import free_base_port

    return free_base_port(n)


@pytest.fixture(scope="module")
def one_torch_thread():
    """The CI box has 2 shared cores: a second torch thread only adds contention for small models."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real SeaweedFS S3 server on 127.0.0.1 for the whole session, stopped by PID after.

    Yields Settings whose s3_* fields point at it (endpoint + generated credentials).
    """
    from signbridge.settings import load_settings
    from signbridge.storage.embedded import EmbeddedStore

    home = tmp_path_factory.mktemp("sbhome")
    settings = load_settings(env={}, home=str(home), s3_port=_free_port_block())
    emb = EmbeddedStore(settings)
    emb.up(timeout=90)
    try:
        yield emb.client_settings()
    finally:
        # After a long session weed mini's graceful stop sometimes waits 10+ s in one component (seen in
        # its log: the filer or the volume server); the data is thrown away, so 4 s, then SIGKILL by PID.
        emb.down(timeout=4)


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket URI on the session server."""
    import uuid

    from signbridge.storage import open_store

    uri = f"s3://t-{uuid.uuid4().hex[:12]}"
    open_store(uri, s3_server, create=True)
    return uri


@pytest.fixture(scope="session")
def go_eat_video(shared_data, tmp_path_factory):
    """A two-sentence clip: two WLASL signs of one signer (GO, EAT) with 2.5 s of black between them."""
    import subprocess

    video = tmp_path_factory.mktemp("clip") / "go_eat.mp4"
    w = shared_data / "wlasl_clips"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(w / "69345_reenc640.mp4"), "-i", str(w / "69307_reenc640.mp4"),
                    "-filter_complex", "[0:v]tpad=stop_mode=add:stop_duration=2.5:color=black,setsar=1,fps=30[a];"
                    "[1:v]setsar=1,fps=30[b];[a][b]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(video)],
                   check=True)
    return video


@pytest.fixture(scope="session")
def processed_clip(go_eat_video, tmp_path_factory):
    """A real run's results for the two-sentence clip (``go_eat_video``), through `signbridge run`. Tests
    that change the results work on a copy (``copy_results``)."""
    import subprocess
    import sys
    from types import SimpleNamespace

    root = tmp_path_factory.mktemp("processed")
    video = go_eat_video
    home, out = root / "home", root / "out"
    env = {**os.environ, "SIGNBRIDGE_HOME": str(home), "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "run", str(video), "-o", str(out), "--workers", "1"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    folder = next(p for p in out.iterdir() if (p / "gloss_track.json").is_file())
    return SimpleNamespace(video=video, out=out, folder=folder, home=home)


@pytest.fixture
def copy_results(processed_clip, tmp_path):
    """A private copy of the processed clip's results (and its own SIGNBRIDGE_HOME)."""
    import shutil
    from types import SimpleNamespace

    out = tmp_path / "out"
    shutil.copytree(processed_clip.out, out)
    (tmp_path / "home").mkdir()
    return SimpleNamespace(video=processed_clip.video, out=out, folder=out / processed_clip.folder.name,
                           vid=processed_clip.folder.name, home=tmp_path / "home")


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    """Headless Debian chromium driven by Selenium (the review and live pages' tests)."""
    import shutil

    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("Debian chromium or chromium-driver is missing: ./sb's set-up installs them, so the set-up is broken")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,860",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)
