"""A small client for Airflow 3's REST API (``/auth/token``, ``/api/v2``): what the cluster and
``process --executor celery`` need, with errors that say which server and what to do.

Standard library only (urllib), so it works against any Airflow 3 deployment without Airflow
installed on the client. Passwords and tokens are never put into error messages.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from signbridge.errors import ConfigError, SignBridgeError


class ApiError(SignBridgeError):
    """The Airflow API answered with an error status."""

    def __init__(self, message: str, status: int, **kw):
        self.status = status
        super().__init__(message, **kw)


class AirflowApi:
    def __init__(self, url: str, user: str | None, password: str | None, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.user, self.password, self.timeout = user, password, timeout
        self._token: str | None = None

    def _open(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:300]
            raise ApiError(f"{method} {path} was refused with HTTP {e.code}: {detail}", e.code,
                           source=self.url) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ConfigError(f"no Airflow API server answers at {self.url} ({reason})",
                              hint="start the local cluster with `signbridge cluster up`, or set "
                                   "SIGNBRIDGE_AIRFLOW_URL (and SIGNBRIDGE_AIRFLOW_USER/PASSWORD) to a running Airflow") \
                from None
        return json.loads(raw) if raw else None

    def token(self) -> str:
        if self._token is None:
            if not self.user or not self.password:
                raise ConfigError(f"no credentials for the Airflow API at {self.url}",
                                  hint="set SIGNBRIDGE_AIRFLOW_USER and SIGNBRIDGE_AIRFLOW_PASSWORD")
            try:
                got = self._open("POST", "/auth/token", {"username": self.user, "password": self.password}, auth=False)
            except ApiError as e:
                raise ConfigError(f"the Airflow API at {self.url} refused the credentials of user {self.user!r} "
                                  f"(HTTP {e.status})", hint="check SIGNBRIDGE_AIRFLOW_USER/PASSWORD") from None
            self._token = got["access_token"]
        return self._token

    def health(self) -> dict:
        return self._open("GET", "/api/v2/monitor/health", auth=False)

    def get(self, path: str) -> Any:
        return self._open("GET", "/api/v2" + path)

    def post(self, path: str, body: Any) -> Any:
        return self._open("POST", "/api/v2" + path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._open("PATCH", "/api/v2" + path, body)

    # ------------------------------------------------------------ what SignBridge uses
    def dag(self, dag_id: str) -> dict | None:
        try:
            return self.get(f"/dags/{quote(dag_id)}")
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def ensure_pool(self, name: str, slots: int, description: str) -> None:
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        try:
            self.post("/pools", body)
        except ApiError as e:
            if e.status != 409:
                raise
            self.patch(f"/pools/{quote(name)}", body)

    def trigger(self, dag_id: str, dag_run_id: str, conf: dict) -> dict:
        self.patch(f"/dags/{quote(dag_id)}", {"is_paused": False})
        return self.post(f"/dags/{quote(dag_id)}/dagRuns", {"dag_run_id": dag_run_id, "logical_date": None,
                                                            "conf": conf})

    def dag_run(self, dag_id: str, dag_run_id: str) -> dict:
        return self.get(f"/dags/{quote(dag_id)}/dagRuns/{quote(dag_run_id)}")

    def task_instances(self, dag_id: str, dag_run_id: str) -> list[dict]:
        out: list[dict] = []
        while True:
            page = self.get(f"/dags/{quote(dag_id)}/dagRuns/{quote(dag_run_id)}/taskInstances"
                            f"?limit=100&offset={len(out)}")
            got = page.get("task_instances", [])
            out += got
            if not got or len(out) >= page.get("total_entries", 0):
                return out

    def asset_events(self, dag_id: str, dag_run_id: str) -> list[dict]:
        """The asset events a run emitted, as the embedded runner reports them (asset, uri, task, extra)."""
        page = self.get(f"/assets/events?source_dag_id={quote(dag_id)}&source_run_id={quote(dag_run_id)}&limit=100")
        return [{"asset": e.get("name"), "uri": e.get("uri"), "task_id": e.get("source_task_id"),
                 "extra": e.get("extra") or {}} for e in page.get("asset_events", [])]
