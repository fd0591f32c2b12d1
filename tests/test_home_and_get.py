"""One home wherever a command runs; `storage get` of a prefix; piping into `head` ends quietly."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import _free_port_block

SB = [sys.executable, "-m", "signbridge.cli"]


def _cli(args, env, cwd, **kw):
    return subprocess.run(SB + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, **kw)


def test_two_directories_share_one_home_and_one_store(tmp_path, repo_root):
    """No SIGNBRIDGE_HOME: the per-user data directory (XDG) is the home, not the current directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIGNBRIDGE_"))}
    env.update({"XDG_DATA_HOME": str(tmp_path / "xdg"), "SIGNBRIDGE_S3_PORT": str(_free_port_block()),
                "PYTHONPATH": str(repo_root)})
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    up = _cli(["storage", "up", "--json"], env, a)
    assert up.returncode == 0, up.stderr
    pid = json.loads(up.stdout)["pid"]
    try:
        info_a, info_b = (json.loads(_cli(["info", "--json"], env, d).stdout) for d in (a, b))
        assert info_a.pop("results") == str(a / "signbridge-results")  # results go where you are
        assert info_b.pop("results") == str(b / "signbridge-results")
        assert info_a == info_b  # everything else is one place
        assert info_b["home"] == str(tmp_path / "xdg" / "signbridge")
        assert info_b["store"]["running"] and info_b["store"]["pid"] == pid
        # an object put from one directory is listed from the other, with the home's credentials
        (a / "hello.txt").write_text("hi")
        put = _cli(["storage", "put", "hello.txt", "s3://shared/x/hello.txt"], env, a)
        assert put.returncode == 0, put.stderr
        ls = _cli(["storage", "ls", "s3://shared/x"], env, b)
        assert ls.returncode == 0 and "s3://shared/x/hello.txt" in ls.stdout, ls.stderr
    finally:
        _cli(["storage", "down"], env, b)
    assert not (a / ".signbridge").exists() and not (b / ".signbridge").exists()


def test_storage_get_copies_a_prefix_and_resumes(s3_bucket, s3_server, tmp_path):
    from signbridge.storage import open_store

    store = open_store(s3_bucket, s3_server)
    blobs = {f"run/{n}": os.urandom(2000 + i) for i, n in enumerate(("a.json", "sub/b.bin", "sub/c 字.txt"))}
    for k, v in blobs.items():
        store.put_bytes(k, v)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIGNBRIDGE_"))}
    env.update({"SIGNBRIDGE_HOME": str(tmp_path / "home"), "AWS_ENDPOINT_URL": s3_server.s3_endpoint,
                "AWS_ACCESS_KEY_ID": s3_server.s3_access_key, "AWS_SECRET_ACCESS_KEY": s3_server.s3_secret_key})
    got = _cli(["storage", "get", f"{s3_bucket}/run/", str(tmp_path / "dl")], env, tmp_path)
    assert got.returncode == 0, got.stderr
    for k, v in blobs.items():
        assert hashlib.sha256((tmp_path / "dl" / k[4:]).read_bytes()).digest() == hashlib.sha256(v).digest()
    (tmp_path / "dl" / "a.json").write_bytes(b"damaged")  # a damaged local copy is replaced, the rest kept
    again = _cli(["storage", "get", "--recursive", f"{s3_bucket}/run", str(tmp_path / "dl")], env, tmp_path)
    assert "(1 copied, 2 already there)" in again.stderr
    assert (tmp_path / "dl" / "a.json").read_bytes() == blobs["run/a.json"]
    one = _cli(["storage", "get", f"{s3_bucket}/run/sub/b.bin", str(tmp_path / "one.bin")], env, tmp_path)
    assert one.returncode == 0 and (tmp_path / "one.bin").read_bytes() == blobs["run/sub/b.bin"]


def test_listing_piped_into_head_ends_quietly(tmp_path):
    for i in range(3000):  # more than a pipe buffer of listing lines
        (tmp_path / f"f{i:04d}.txt").write_text("x")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIGNBRIDGE_"))}
    env["SIGNBRIDGE_HOME"] = str(tmp_path / "home")
    cmd = " ".join(SB) + f" storage ls {tmp_path} | head -1"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=env, capture_output=True, text=True, timeout=60)
    assert res.stdout.count("\n") == 1 and "f0000.txt" in res.stdout
    assert res.stderr == "", res.stderr
    assert res.returncode == 141  # ended by the closed pipe, as `ls | head` is


def test_a_permanent_error_fails_the_task_without_retries(tmp_path, monkeypatch):
    """A bad key inside a task: Airflow's fail-without-retry exception, and the reason recorded for `process`."""
    from airflow.sdk.exceptions import AirflowFailException

    from signbridge.errors import StorageError
    from signbridge.orchestrate.failures import fail_fast, failures_file
    from signbridge.storage.keys import join_key

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))

    @fail_fast
    def extract(unit: dict) -> str:
        return join_key("outputs", unit["key"])

    with pytest.raises(AirflowFailException, match="InvalidKeyError: key '../x'"):
        extract({"run_id": "r1", "key": "../x"})
    (rec,) = [json.loads(line) for line in failures_file(tmp_path, "r1").read_text().splitlines()]
    assert rec["task"] == "extract" and "'../x'" in rec["error"]

    @fail_fast
    def flaky(unit: dict) -> None:
        raise StorageError("cannot reach S3 endpoint")  # transient: Airflow retries it

    with pytest.raises(StorageError):
        flaky({"run_id": "r1"})
