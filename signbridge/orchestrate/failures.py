"""Permanent errors end an Airflow task at once, and say why where ``signbridge process`` can read it.

A bad key, a bad setting or missing credentials used to go through every retry (8-9 minutes) and
surface only as a generic line; the reason stayed in the Airflow log. A task wrapped here raises
Airflow's fail-without-retry exception for a :class:`SignBridgeError` whose ``permanent`` is set (its
message becomes the task's failure), and appends the reason to
``$AIRFLOW_HOME/runs/<run_id>.failures.jsonl``, which the main command prints. Transient errors (a
network blip, a 5xx) propagate unchanged, so Airflow retries them with backoff.
"""
from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from signbridge.errors import SignBridgeError


def failures_file(airflow_home: str | Path, run_id: str) -> Path:
    return Path(airflow_home) / "runs" / f"{run_id}.failures.jsonl"


def _run_id(args: tuple, kwargs: dict) -> str | None:
    for x in (*args, *kwargs.values()):
        if isinstance(x, dict) and x.get("run_id"):
            return str(x["run_id"])
    return None


def record_failure(task: str, run_id: str | None, err: BaseException) -> None:
    home = os.environ.get("AIRFLOW_HOME")
    if not (home and run_id):
        return
    path = failures_file(home, run_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"task": task, "error": str(err), "type": type(err).__name__, "at": time.time()})
                    + "\n")
    except OSError:
        pass  # the task's own log still has it


def fail_fast(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a task callable: a permanent SignBridge error fails the task without retries."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SignBridgeError as e:
            if not e.permanent:
                raise
            record_failure(fn.__name__, _run_id(args, kwargs), e)
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(e).__name__}: {e}") from e

    return wrapper
