"""``signbridge cluster up | down | status``: start, stop and inspect the local CeleryExecutor cluster.

``up`` is idempotent: components already running (same PID, same start time) are left alone and
only missing ones are started, so it also brings back a worker that died. Every component is
health-checked before ``up`` returns: PostgreSQL and Redis answer with their passwords, the API
server reports the scheduler, DAG processor and triggerer heartbeating, every Celery worker
answers a ping, and the DAG is parsed. ``down`` stops each one by PID, workers first.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from signbridge import processes
from signbridge.cluster import procs
from signbridge.cluster.api import AirflowApi
from signbridge.cluster.deploy import (AIRFLOW_COMPONENTS, Deployment, Layout, Ports, WorkerSpec, load_secrets,
                                       worker_specs, write_private)
from signbridge.errors import SignBridgeError
from signbridge.settings import Settings

DAG_ID = "signbridge_videos"
Say = Callable[[str], None]


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Cluster:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.layout = Layout.of(settings)

    # ------------------------------------------------------------------ state
    def _read_state(self) -> dict:
        return json.loads(self.layout.state.read_text()) if self.layout.state.is_file() else {}

    def _write_state(self, state: dict) -> None:
        write_private(self.layout.state, json.dumps(state, indent=2))

    def _running(self, state: dict, name: str) -> bool:
        c = state.get("components", {}).get(name)
        return bool(c) and processes.alive(c["pid"], c.get("started"))

    def deployment(self, state: dict | None = None, create: bool = False) -> Deployment:
        state = self._read_state() if state is None else state
        ports = Ports(**state["ports"]) if state.get("ports") else Ports.from_base(self.settings.cluster_port)
        workers = [WorkerSpec(w["name"], tuple(w["queues"]), w["concurrency"]) for w in state.get("workers", [])]
        return Deployment(self.layout, ports, load_secrets(self.layout, create=create), self.settings, workers)

    def api(self, dep: Deployment | None = None) -> AirflowApi:
        dep = dep or self.deployment()
        return AirflowApi(dep.api_url, dep.secrets["admin_user"], dep.secrets["admin_password"])

    # ------------------------------------------------------------------ up
    def up(self, workers: int | None = None, queues: list[str] | None = None, concurrency: int = 1,
           timeout: float = 240.0, say: Say = print) -> list[ComponentStatus]:
        with _locked(self.layout):
            state = self._read_state()
            if not any(self._running(state, n) for n in state.get("components", {})):
                state["ports"] = asdict(Ports.from_base(self.settings.cluster_port))
            if workers is not None or queues or not state.get("workers"):
                specs = worker_specs(workers or len(state.get("workers", [])) or 2, queues, concurrency)
                state["workers"] = [asdict(s) for s in specs]
            state.setdefault("components", {})
            dep = self.deployment(state, create=True)
            self._retire_workers(state, dep, say)
            missing = [n for n in dep.component_names() if not self._running(state, n)]
            if not missing:
                say(f"the cluster is already running ({len(dep.workers)} worker(s)); API {dep.api_url}")
                return self._statuses(state, dep)
            procs.check_ports_free({f"{n}": p for n, p in dep.ports.named().items() if n in missing})
            try:
                self._start(state, dep, missing, timeout, say)
            except BaseException:
                say("the cluster did not come up; stopping what this command started")
                self._down(state, say=lambda m: None, only=missing)
                raise
            return self._statuses(state, dep)

    def _retire_workers(self, state: dict, dep: Deployment, say: Say) -> None:
        """Workers no longer wanted (fewer --workers, other --queues) are stopped before the new ones start."""
        want = {w.name: w for w in dep.workers}
        for name, c in list(state["components"].items()):
            if not name.startswith("worker"):
                continue
            if name not in want or tuple(c.get("queues", ())) != want[name].queues:
                if processes.stop(c["pid"], c.get("started"), grace=20):
                    say(f"stopped {name} (pid {c['pid']}): its queues changed")
                del state["components"][name]
        self._write_state(state)

    def _spawn(self, state: dict, dep: Deployment, name: str, cmd: list[str], env: dict[str, str], log: Path,
               user: str | None = None, pid: int | None = None) -> int:
        pid = pid or procs.spawn(cmd, env, log)
        entry = {"pid": pid, "started": processes.create_time(pid), "log": str(log)}
        if name.startswith("worker"):
            entry["queues"] = list(dep.worker(name).queues)
        state["components"][name] = entry
        self._write_state(state)
        return pid

    def _start(self, state: dict, dep: Deployment, missing: list[str], timeout: float, say: Say) -> None:
        base_env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
        if "postgres" in missing:
            pg = dep.postgres
            fresh = not (pg.data / "PG_VERSION").is_file()
            pg.init()
            if fresh:
                (self.layout.airflow_home / ".migrated").unlink(missing_ok=True)
            pid = self._spawn(state, dep, "postgres", [], {}, pg.log_path, pid=pg.start(base_env))
            procs.wait_for(pg.healthy, 60, f"PostgreSQL on 127.0.0.1:{pg.port}", pg.log_path, pid)
            pg.ensure_database()
            say(f"PostgreSQL  pid {pid}  127.0.0.1:{pg.port}  data {pg.data}")
        if "redis" in missing:
            rd = dep.redis
            pid = self._spawn(state, dep, "redis", [], {}, rd.log_path, pid=rd.start(base_env))
            procs.wait_for(rd.healthy, 30, f"Redis on 127.0.0.1:{rd.port}", rd.log_path, pid)
            say(f"Redis       pid {pid}  127.0.0.1:{rd.port}")
        self._migrate(dep, say)
        write_private(self.layout.passwords, json.dumps({dep.secrets["admin_user"]: dep.secrets["admin_password"]}))
        for name in [n for n in (*AIRFLOW_COMPONENTS, *(w.name for w in dep.workers)) if n in missing]:
            self._spawn(state, dep, name, dep.command(name), dep.env_for(name), self.layout.logs / f"{name}.log")
        self._wait_healthy(state, dep, timeout, say)

    def _migrate(self, dep: Deployment, say: Say) -> None:
        """``airflow db migrate`` against PostgreSQL, once per Airflow version (a stamp remembers it)."""
        import subprocess
        from importlib.metadata import version

        from signbridge.orchestrate.airflow_env import airflow_bin

        stamp = self.layout.airflow_home / ".migrated"
        want = version("apache-airflow-core")
        if stamp.is_file() and stamp.read_text().strip() == want:
            return
        say("migrating the Airflow metadata database (first start only)")
        self.layout.airflow_home.mkdir(parents=True, exist_ok=True)
        log = self.layout.logs / "migrate.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as f:
            res = subprocess.run([airflow_bin(), "db", "migrate"], env=dep.airflow_env(), stdout=f,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-5:])
            raise SignBridgeError("`airflow db migrate` failed on the cluster's PostgreSQL", hint=f"log {log}:\n{tail}")
        stamp.write_text(want)

    def _wait_healthy(self, state: dict, dep: Deployment, timeout: float, say: Say) -> None:
        deadline = time.monotonic() + timeout
        api = self.api(dep)
        comps = state["components"]

        def left() -> float:
            return max(1.0, deadline - time.monotonic())

        def alive_check(check):
            def run():
                for n in (*AIRFLOW_COMPONENTS, *(w.name for w in dep.workers)):
                    if not self._running(state, n):
                        raise procs.Exited(f"the Airflow {n} exited while starting",
                                           hint=procs.tail_hint(Path(comps[n]["log"])))
                return check()
            return run

        def components_healthy() -> bool:
            h = api.health()
            bad = [k for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                   if (h.get(k) or {}).get("status") != "healthy"]
            if bad:
                raise SignBridgeError(f"not yet healthy: {', '.join(bad)}")
            return True

        procs.wait_for(alive_check(components_healthy), left(), f"the Airflow API server on {dep.api_url}",
                       Path(comps["api-server"]["log"]), interval=1.0)
        procs.wait_for(alive_check(lambda: api.dag(DAG_ID)), left(), f"parsing of the DAG {DAG_ID}",
                       Path(comps["dag-processor"]["log"]), interval=1.0)
        gpu_slots = max(1, sum(w.concurrency for w in dep.workers if "gpu" in w.queues))
        api.ensure_pool("gpu", gpu_slots, "SignBridge recognition + composition: one task per GPU")
        names = [w.celery_name() for w in dep.workers]
        procs.wait_for(alive_check(lambda: len(_ping(dep, names)) == len(names)), left(),
                       f"the Celery worker(s) {', '.join(w.name for w in dep.workers)}",
                       Path(comps[dep.workers[0].name]["log"]), interval=1.0)
        say(f"Airflow API server {dep.api_url} (user {dep.secrets['admin_user']}; password in "
            f"{self.layout.secrets}); scheduler, DAG processor, triggerer and {len(names)} worker(s) healthy")

    # ------------------------------------------------------------------ status / down
    def status(self) -> list[ComponentStatus]:
        state = self._read_state()
        if not state.get("components"):
            return []
        return self._statuses(state, self.deployment(state))

    def _statuses(self, state: dict, dep: Deployment) -> list[ComponentStatus]:
        out = []
        health: dict = {}
        if self._running(state, "api-server"):
            try:
                health = AirflowApi(dep.api_url, None, None, timeout=5).health()
            except SignBridgeError as e:
                health = {"error": str(e)}
        pings = _ping(dep, [w.celery_name() for w in dep.workers]) if self._running(state, "redis") else set()
        for name in dep.component_names():
            c = state.get("components", {}).get(name) or {}
            running = self._running(state, name)
            healthy, detail = running, ""
            if name == "postgres":
                detail = f"127.0.0.1:{dep.ports.postgres}"
            elif name == "redis":
                detail = f"127.0.0.1:{dep.ports.redis}"
            elif name == "api-server":
                healthy = running and "error" not in health
                detail = dep.api_url
            elif name in AIRFLOW_COMPONENTS:
                key = name.replace("-", "_")
                healthy = running and (health.get(key) or {}).get("status") == "healthy"
                detail = f"heartbeat {(health.get(key) or {}).get('status', 'unknown')}"
            else:
                spec = dep.worker(name)
                healthy = running and spec.celery_name() in pings
                detail = f"queues {','.join(spec.queues)}, concurrency {spec.concurrency}"
            out.append(ComponentStatus(name, c.get("pid"), running, healthy, detail))
        return out

    def down(self, say: Say = print) -> list[str]:
        with _locked(self.layout):
            return self._down(self._read_state(), say)

    def _down(self, state: dict, say: Say, only: list[str] | None = None) -> list[str]:
        from signbridge.cluster.services import Postgres, Redis

        from concurrent.futures import ThreadPoolExecutor

        comps = {n: c for n, c in state.get("components", {}).items() if only is None or n in only}
        # workers first (no new task starts), then the Airflow services together, then the broker and the DB
        waves = [[n for n in comps if n.startswith("worker")], [n for n in AIRFLOW_COMPONENTS if n in comps],
                 [n for n in ("redis",) if n in comps], [n for n in ("postgres",) if n in comps]]
        stoppers = {"postgres": Postgres.stop, "redis": Redis.stop}
        stopped = []
        for wave in waves:
            if not wave:
                continue
            with ThreadPoolExecutor(len(wave)) as pool:
                done = list(pool.map(lambda n: stoppers.get(n, lambda pid, st: bool(processes.stop(pid, st, grace=20)))(
                    comps[n]["pid"], comps[n].get("started")), wave))
            for name, ok in zip(wave, done):
                if ok:
                    stopped.append(name)
                    say(f"stopped {name} (pid {comps[name]['pid']})")
                del state["components"][name]
            self._write_state(state)
        return stopped


def _ping(dep: Deployment, names: list[str]) -> set[str]:
    """The Celery node names among ``names`` that answer a ping through the broker."""
    from celery import Celery

    app = Celery("signbridge-ping", broker=dep.redis.url(), set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_connection_max_retries = 0
    try:
        replies = app.control.ping(destination=names, timeout=1.5) or []
    except Exception:  # noqa: BLE001 - broker unreachable: nobody answers
        return set()
    finally:
        app.close()
    return {n for r in replies for n in r}
