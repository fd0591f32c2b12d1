"""What the cluster is made of: its files, secrets, ports, the Airflow environment and each component's command.

Everything a worker on another host needs is in :func:`airflow_env` (metadata DB URL, broker URL,
execution API URL, shared secrets, S3 settings); docs/deployment.md shows the same variables for a
multi-machine set-up.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from signbridge.cluster.services import Postgres, Redis
from signbridge.errors import ConfigError
from signbridge.settings import Settings

QUEUES = ("default", "extract", "gpu", "tts")   # the queues dags/signbridge_videos.py routes tasks to
ADMIN_USER = "signbridge"
SERVICES = ("postgres", "redis")
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# a task whose worker stopped heartbeating (killed, machine gone) is failed and retried after this;
# Airflow's default is 300 s. Any AIRFLOW__* variable given to `cluster up` overrides these defaults.
HEARTBEAT_TIMEOUT_S = 60
# a scheduler that restarts looks for tasks its dead predecessor queued (to adopt them, so a task whose worker also
# died is failed and retried) this often; Airflow's default, 300 s, held a run 5 minutes after a scheduler SIGKILL
ORPHANED_CHECK_S = 60
# a task still queued after this is queued again: its message may have gone with a restarted Redis (which keeps
# no data here); Airflow's default is 600 s
QUEUED_TIMEOUT_S = 120


@dataclass
class Layout:
    """The files of one cluster, under ``$SIGNBRIDGE_HOME/cluster``."""
    root: Path

    @classmethod
    def of(cls, settings: Settings) -> "Layout":
        return cls(Path(settings.home) / "cluster")

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def passwords(self) -> Path:
        return self.airflow_home / "passwords.json"


def load_secrets(layout: Layout, create: bool = True) -> dict[str, str]:
    """Generated once and kept 0600: DB and Redis passwords, the API's JWT and session secrets, the Fernet
    key, the admin user's password."""
    if layout.secrets.is_file():
        return json.loads(layout.secrets.read_text())
    if not create:
        raise ConfigError(f"no local cluster under {layout.root}", hint="start one with `signbridge cluster up`")
    from cryptography.fernet import Fernet

    got = {"db_password": secrets.token_urlsafe(24), "redis_password": secrets.token_urlsafe(24),
           "jwt_secret": secrets.token_urlsafe(32), "api_secret_key": secrets.token_urlsafe(32),
           "fernet_key": Fernet.generate_key().decode(), "admin_user": ADMIN_USER,
           "admin_password": secrets.token_urlsafe(18)}
    write_private(layout.secrets, json.dumps(got, indent=2))
    return got


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


@dataclass
class Ports:
    api: int
    postgres: int
    redis: int

    @classmethod
    def from_base(cls, base: int) -> "Ports":
        return cls(api=base, postgres=base + 1, redis=base + 2)

    def named(self) -> dict[str, int]:
        return {"api-server": self.api, "postgres": self.postgres, "redis": self.redis}


@dataclass
class WorkerSpec:
    name: str
    queues: tuple[str, ...]
    concurrency: int = 1

    def celery_name(self) -> str:
        return f"{self.name}@{socket.getfqdn()}"


def worker_specs(n: int, queues: list[str] | None, concurrency: int = 1) -> list[WorkerSpec]:
    """``--queues`` given per worker (the i-th for the i-th worker); a worker without one serves every queue."""
    if n < 1:
        raise ConfigError(f"--workers {n}: at least one worker is needed")
    queues = queues or []
    if len(queues) > n:
        raise ConfigError(f"{len(queues)} --queues given for {n} worker(s)", hint="give at most one per worker")
    specs = []
    for i in range(n):
        qs = tuple(q.strip() for q in queues[i].split(",") if q.strip()) if i < len(queues) else QUEUES
        unknown = [q for q in qs if q not in QUEUES]
        if unknown or not qs:
            raise ConfigError(f"worker {i + 1}: unknown queue(s) {', '.join(unknown) or '(none)'}",
                              hint=f"the DAG's queues are {', '.join(QUEUES)}")
        specs.append(WorkerSpec(f"worker{i + 1}", qs, concurrency))
    uncovered = [q for q in QUEUES if not any(q in s.queues for s in specs)]
    if uncovered:
        raise ConfigError(f"no worker serves queue(s) {', '.join(uncovered)}: their tasks would never run",
                          hint=f"give every queue ({', '.join(QUEUES)}) to at least one worker with --queues")
    return specs


@dataclass
class Deployment:
    """One cluster's configuration: where it lives, its ports, its secrets, its S3 settings."""
    layout: Layout
    ports: Ports
    secrets: dict[str, str]
    settings: Settings
    workers: list[WorkerSpec] = field(default_factory=list)

    @property
    def postgres(self) -> Postgres:
        return Postgres(self.layout.root / "postgres", self.ports.postgres, self.secrets["db_password"])

    @property
    def redis(self) -> Redis:
        return Redis(self.layout.root / "redis", self.ports.redis, self.secrets["redis_password"])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    def airflow_env(self) -> dict[str, str]:
        """The environment of every Airflow component (and of workers joining from other hosts)."""
        from signbridge.orchestrate.airflow_env import airflow_env

        env = airflow_env(self.settings, executor="local")
        home = self.layout.airflow_home
        pg = self.postgres
        env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url(),
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url(),
            "AIRFLOW__CELERY__RESULT_BACKEND": pg.url("db+postgresql+psycopg2"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.secrets["jwt_secret"],
            "AIRFLOW__API__SECRET_KEY": self.secrets["api_secret_key"],
            "AIRFLOW__CORE__FERNET_KEY": self.secrets["fernet_key"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.secrets['admin_user']}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.layout.passwords),
            "AIRFLOW__CORE__PARALLELISM": "32",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(ORPHANED_CHECK_S),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT_S),
        })
        env.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__")})
        return env

    def worker_env(self, spec: WorkerSpec) -> dict[str, str]:
        return {**self.airflow_env(), "SIGNBRIDGE_CLUSTER_WORKER": spec.name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "signbridge.cluster.hostname.worker_hostname",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(spec.concurrency)}

    def command(self, name: str) -> list[str]:
        from signbridge.orchestrate.airflow_env import airflow_bin

        af = airflow_bin()
        if name == "api-server":
            return [af, "api-server", "-H", "127.0.0.1", "-p", str(self.ports.api), "-w", "1"]
        if name in ("scheduler", "triggerer"):
            return [af, name, "--skip-serve-logs"]   # no log server on 0.0.0.0: logs are files under our home
        if name == "dag-processor":
            return [af, "dag-processor"]
        spec = self.worker(name)
        return [af, "celery", "worker", "-q", ",".join(spec.queues), "-c", str(spec.concurrency),
                "-H", spec.celery_name(), "--skip-serve-logs", "--without-gossip", "--without-mingle"]

    def worker(self, name: str) -> WorkerSpec:
        for s in self.workers:
            if s.name == name:
                return s
        raise KeyError(name)

    def env_for(self, name: str) -> dict[str, str]:
        return self.worker_env(self.worker(name)) if name.startswith("worker") else self.airflow_env()

    def component_names(self) -> list[str]:
        return [*SERVICES, *AIRFLOW_COMPONENTS, *(w.name for w in self.workers)]
