"""``signbridge process --executor celery``: the run goes to an Airflow deployment through its REST API.

By default that is the local cluster (``signbridge cluster up``; URL and admin password from its
files); ``SIGNBRIDGE_AIRFLOW_URL`` with ``SIGNBRIDGE_AIRFLOW_USER``/``PASSWORD`` points at any
other Airflow 3 running the SignBridge DAGs. The client checks the API server answers before
uploading anything, so a cluster that is down is an error within seconds, not a hang.
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from signbridge.cluster.api import AirflowApi
from signbridge.errors import ConfigError, SignBridgeError
from signbridge.settings import Settings

DAG_ID = "signbridge_videos"
FINISHED = ("success", "failed")
POLL_S = 2.0
API_DOWN_TOLERANCE_S = 60.0   # the API server may restart during a run; longer than this is an error


def connect(settings: Settings) -> AirflowApi:
    """The Airflow API to submit to, checked to be up (fails within seconds when it is not)."""
    if settings.airflow_url:
        api = AirflowApi(settings.airflow_url, settings.airflow_user, settings.airflow_password, timeout=5)
    else:
        from signbridge.cluster.deploy import Layout, load_secrets
        from signbridge.cluster.manager import Cluster

        layout = Layout.of(settings)
        if not layout.secrets.is_file():
            raise ConfigError(f"no local cluster under {layout.root} and SIGNBRIDGE_AIRFLOW_URL is not set",
                              hint="start one with `signbridge cluster up`, or point SIGNBRIDGE_AIRFLOW_URL at an Airflow")
        dep = Cluster(settings).deployment()
        secrets = load_secrets(layout, create=False)
        api = AirflowApi(dep.api_url, settings.airflow_user or secrets["admin_user"],
                         settings.airflow_password or secrets["admin_password"], timeout=5)
    api.health()
    if api.dag(DAG_ID) is None:
        raise ConfigError(f"the Airflow at {api.url} has no DAG {DAG_ID}",
                          hint="its DAG folder must hold SignBridge's dags/ (and its workers the signbridge package)")
    api.timeout = 30
    return api


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def task_records(tis: list[dict]) -> list[dict]:
    """The same records as the embedded runner's result (plus the queue each task ran from)."""
    return [{"task_id": t["task_id"], "map_index": t.get("map_index", -1), "state": t.get("state"),
             "try_number": t.get("try_number"), "pid": t.get("pid"), "hostname": t.get("hostname"),
             "queue": t.get("queue"), "start": _ts(t.get("start_date")), "end": _ts(t.get("end_date"))}
            for t in tis]


def submit_run(api: AirflowApi, conf: dict, log_path: Path, say: Callable[[str], None],
               timeout: float | None = None) -> dict:
    """Trigger one run of the DAG with ``conf``, wait for it to finish, return its state and task records."""
    dag_run_id = f"signbridge__{conf['run_id']}"
    api.trigger(DAG_ID, dag_run_id, conf)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    down_since: float | None = None
    last = ""
    with open(log_path, "a") as log:
        log.write(f"submitted {DAG_ID} run {dag_run_id} to {api.url}\n")
        while True:
            try:
                run = api.dag_run(DAG_ID, dag_run_id)
                tis = api.task_instances(DAG_ID, dag_run_id)
                down_since = None
            except ConfigError:
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > API_DOWN_TOLERANCE_S:
                    raise SignBridgeError(f"the Airflow API at {api.url} stopped answering during run {dag_run_id}",
                                          hint="the run may still be going on; see the cluster's logs") from None
                time.sleep(POLL_S)
                continue
            counts: dict[str, int] = {}
            for t in tis:
                counts[t.get("state") or "none"] = counts.get(t.get("state") or "none", 0) + 1
            line = f"run {run['state']}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            if line != last:
                log.write(line + "\n")
                log.flush()
                say(f"  {line}")
                last = line
            if run["state"] in FINISHED:
                return {"dag_id": DAG_ID, "run_id": dag_run_id, "state": run["state"], "tasks": task_records(tis),
                        "executor": "CeleryExecutor", "api_url": api.url,
                        "asset_events": api.asset_events(DAG_ID, dag_run_id)}
            if timeout is not None and time.monotonic() - start > timeout:
                raise SignBridgeError(f"run {dag_run_id} did not finish within {timeout:.0f} s",
                                      hint=f"it goes on in the cluster; see {api.url}")
            time.sleep(POLL_S)
