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
