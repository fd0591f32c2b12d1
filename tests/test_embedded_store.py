"""`signbridge storage up|status|down` as a user runs them, then plain boto3 against the store."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _free_port_block

SB = [sys.executable, "-m", "signbridge.cli"]


def _cli(args, env):
    return subprocess.run(SB + args, env=env, capture_output=True, text=True, timeout=120)


def _listening_addrs(pid: int) -> set[str]:
    """Local addresses the process listens on, read from /proc (inode match)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addrs = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                hexip = cols[1].split(":")[0]
                if len(hexip) == 8:
                    addrs.add(".".join(str(int(hexip[i:i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    addrs.add("v6:" + hexip)
    return addrs


@pytest.fixture
def user_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIGNBRIDGE_"))}
    env["SIGNBRIDGE_HOME"] = str(tmp_path / "home")
    env["SIGNBRIDGE_S3_PORT"] = str(_free_port_block())
    return env


def test_storage_up_boto3_down(user_env):
    up = _cli(["storage", "up", "--json"], user_env)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    pid = info["pid"]
    try:
        home = Path(user_env["SIGNBRIDGE_HOME"])
        cred_file = home / "s3" / "credentials.json"
        assert stat.S_IMODE(cred_file.stat().st_mode) == 0o600
        # second `up` is idempotent: same server
        again = _cli(["storage", "up", "--json"], user_env)
        assert json.loads(again.stdout)["pid"] == pid
        # bound to loopback only
        addrs = _listening_addrs(pid)
        assert addrs and addrs <= {"127.0.0.1"}, addrs
        # a new user with boto3 and the generated credentials can create and list a bucket
        import boto3
        from botocore.config import Config

        creds = json.loads(cred_file.read_text())
        s3 = boto3.client("s3", endpoint_url=info["endpoint"], aws_access_key_id=creds["access_key"],
                          aws_secret_access_key=creds["secret_key"], region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="hello-bucket")
        assert "hello-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        st = _cli(["storage", "status"], user_env)
        assert st.returncode == 0 and "running" in st.stdout
        env_lines = _cli(["storage", "env"], user_env).stdout
        assert f"AWS_ENDPOINT_URL={info['endpoint']}" in env_lines
    finally:
        down = _cli(["storage", "down"], user_env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    leftovers = subprocess.run(["pgrep", "-f", str(Path(user_env["SIGNBRIDGE_HOME"]) / "s3")],
                               capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes left behind: {leftovers}"
    st = _cli(["storage", "status"], user_env)
    assert st.returncode == 3 and "stopped" in st.stdout
    # restart at once on the same ports (sockets of the old server still in TIME_WAIT): data is still there
    up2 = _cli(["storage", "up", "--json"], user_env)
    try:
        assert up2.returncode == 0, up2.stderr
        assert "hello-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        _cli(["storage", "down"], user_env)


def test_storage_up_reports_a_taken_port(user_env):
    import socket

    port = int(user_env["SIGNBRIDGE_S3_PORT"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        r = _cli(["storage", "up"], user_env)
    assert r.returncode == 1
    assert r.stderr.count("\n") <= 40 and "Traceback" not in r.stderr
    assert f"port {port}" in r.stderr and "already in use" in r.stderr
    _cli(["storage", "down"], user_env)
