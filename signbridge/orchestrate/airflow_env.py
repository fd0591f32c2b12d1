"""The embedded Airflow: its home under ``$SIGNBRIDGE_HOME/airflow``, the SQLite metadata DB, and the
execution API server a real executor's workers report to.

Airflow reads its configuration when it is first imported, so everything here prepares an
environment for a *child* process (the runner, ``airflow db migrate``, ``airflow api-server``)
instead of importing Airflow into the caller.
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from signbridge.errors import ConfigError, SignBridgeError
from signbridge.settings import Settings

EXECUTORS = ("inline", "local")


def dags_folder() -> Path:
    """The DAG files: ``signbridge/_dags`` inside the package. In a checkout it is a link to the top-level
    ``dags/`` (the one copy, resolved here so Airflow sees ``dags/``); in a wheel it holds copies of those
    files, so an installed package runs ``process`` without a checkout. ``SIGNBRIDGE_DAGS_FOLDER`` overrides."""
    env = os.environ.get("SIGNBRIDGE_DAGS_FOLDER")
    d = Path(env) if env else (Path(__file__).resolve().parents[1] / "_dags").resolve()
    if not (d / "signbridge_videos.py").is_file():
        raise ConfigError(f"the DAG folder {d} has no signbridge_videos.py",
                          hint="reinstall SignBridge (its package carries the DAGs in signbridge/_dags), or set "
                               "SIGNBRIDGE_DAGS_FOLDER to a folder holding its DAG files")
    return d


def airflow_home(settings: Settings) -> Path:
    return Path(settings.home) / "airflow"


def airflow_bin() -> str:
    here = Path(sys.executable).parent / "airflow"
    return str(here) if here.is_file() else "airflow"


def airflow_env(settings: Settings, *, executor: str = "inline", parallelism: int = 2,
                api_port: int | None = None) -> dict[str, str]:
    """Environment for Airflow child processes: SQLite DB and logs under our home, our DAG folder, the
    S3 settings the tasks must use (the embedded store's endpoint and keys included)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    home = airflow_home(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(max(1, parallelism)),
        "SIGNBRIDGE_HOME": settings.home,
        "SIGNBRIDGE_OUTPUT": settings.output,
        "SIGNBRIDGE_UPLOADS": settings.uploads,
        "PYTHONUNBUFFERED": "1",
        "GLOG_minloglevel": "2",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    if api_port:
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{api_port}/execution/"
    # the tasks choose the same store (storage/target.py): the same choice, endpoint and keys; a region
    # only when one is set, so an AWS profile's region holds there too
    env["SIGNBRIDGE_STORE"] = settings.store
    for name, vars_ in (("s3_endpoint", ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")),
                        ("s3_access_key", ("AWS_ACCESS_KEY_ID",)), ("s3_secret_key", ("AWS_SECRET_ACCESS_KEY",)),
                        ("s3_region", ("AWS_DEFAULT_REGION",))):
        v = getattr(settings, name)
        for var in vars_:
            if v:
                env[var] = str(v)
    if settings.s3_path_style is not None:
        env["SIGNBRIDGE_S3_PATH_STYLE"] = str(settings.s3_path_style).lower()
    return env


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def migrate(env: dict[str, str]) -> None:
    """``airflow db migrate`` once per Airflow version (a stamp file remembers it; a lock serialises)."""
    from importlib.metadata import version

    home = Path(env["AIRFLOW_HOME"])
    stamp = home / ".signbridge-migrated"
    want = version("apache-airflow-core")
    with _lock(home / ".migrate.lock"):
        if stamp.is_file() and stamp.read_text().strip() == want and (home / "airflow.db").is_file():
            return
        res = subprocess.run([airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True)
        if res.returncode != 0:
            tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-5:])
            raise SignBridgeError(f"`airflow db migrate` failed in {home}", hint=tail)
        _wal(home / "airflow.db")
        stamp.write_text(want)


def _wal(db: Path) -> None:
    """Write-ahead logging: the runner's open read transactions no longer block the execution API
    server's writes (in the default journal mode each task start could wait out SQLite's busy
    timeout, which serialised LocalExecutor tasks). The mode is stored in the database file."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA journal_mode=WAL").fetchone()
    finally:
        con.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServer:
    """``airflow api-server --apps execution`` on 127.0.0.1: where LocalExecutor workers report.

    Started in its own session and stopped by PID (SIGTERM, then SIGKILL of that group only).
    """

    def __init__(self, env: dict[str, str], port: int, log_path: Path):
        self.env, self.port, self.log_path = env, port, log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/execution/"

    def start(self, timeout: float = 90.0) -> "ApiServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([airflow_bin(), "api-server", "--apps", "execution", "-H", "127.0.0.1",
                                      "-p", str(self.port), "-w", "1"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-1500:]
                raise SignBridgeError(f"the Airflow API server exited with code {self.proc.returncode}",
                                      hint=f"log {self.log_path}:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + "health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise SignBridgeError(f"the Airflow API server did not answer on {self.url} within {timeout:.0f}s",
                              hint=f"see {self.log_path}")

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        from signbridge.processes import stop

        stop(p.pid, sig=signal.SIGTERM, grace=15, group=True)  # it runs in its own session
        p.wait(timeout=5)

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
