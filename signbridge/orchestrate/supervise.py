"""Watching over the Airflow runner that ``signbridge process`` starts: the store's health, the
user's Ctrl-C/SIGTERM, and ending every process of the run.

* Before the DAG starts, every s3:// prefix is parsed and validated (a ``..`` is named at once, not
  after every task's retries) and the store must answer.
* While it runs, the store is asked every few seconds; one that stays unreachable for
  ``DEAD_STORE_S`` is reported and the run is stopped (before: 8-9 minutes of retries in silence).
* SIGINT/SIGTERM stop the runner and everything it started (the LocalExecutor's workers, their task
  processes, the execution API server) within ``STOP_GRACE_S`` + a SIGKILL, by PID: the runner's
  process tree is read before anything is signalled (:func:`signbridge.processes.stop`).
"""
from __future__ import annotations

import json
import signal
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

from signbridge.errors import RunCancelled, StorageError
from signbridge.settings import Settings

HEALTH_EVERY_S = 5.0
DEAD_STORE_S = 20.0
STOP_GRACE_S = 5.0


def check_locations(settings: Settings, inputs: Sequence[str]) -> None:
    """Every s3:// URI the run will use parses and has a valid prefix (raises InvalidKeyError naming it)."""
    from signbridge.storage.s3 import parse_s3_uri

    for uri in (settings.output, settings.uploads, *inputs):
        if uri.startswith("s3://"):
            parse_s3_uri(uri)


def store_problem(settings: Settings, uri: str) -> str | None:
    """None when the store behind ``uri`` answers now; else what is wrong (one quick try, no retries)."""
    if not uri.startswith("s3://"):
        return None
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from signbridge.storage import resolve_s3_settings
    from signbridge.storage.s3 import make_client, parse_s3_uri

    bucket, _ = parse_s3_uri(uri)
    s = resolve_s3_settings(settings).replace(s3_retries=1)
    try:
        make_client(s, connect_timeout=3, read_timeout=5).head_bucket(Bucket=bucket)
    except NoCredentialsError:
        return ("no S3 credentials: give boto3 some (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, SSO, "
                "an instance role), or SIGNBRIDGE_STORE=embedded for the embedded store")
    except ClientError as e:
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status == 403:
            return "S3 refused the credentials (403): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        return None if status < 500 else f"S3 answered {status}"  # 404: the bucket is created when needed
    except (BotoCoreError, OSError) as e:
        return str(e)
    return None


class StoreWatch:
    """Asks the store every ``HEALTH_EVERY_S``; :meth:`check` raises once it has been down ``DEAD_STORE_S``."""

    def __init__(self, settings: Settings, uri: str):
        self.settings, self.uri = settings, uri
        self.next_at = 0.0
        self.down_since: float | None = None
        self.problem: str | None = None

    def check(self) -> None:
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + HEALTH_EVERY_S
        self.problem = store_problem(self.settings, self.uri)
        if self.problem is None:
            self.down_since = None
            return
        self.down_since = self.down_since or now
        if now - self.down_since >= DEAD_STORE_S:
            endpoint = self.settings.s3_endpoint or "(AWS default)"
            raise StorageError(f"the object store at {endpoint} stopped answering {now - self.down_since:.0f} s ago "
                               f"({self.problem}); the run was stopped", source=self.uri, permanent=True,
                               hint="start it again (`signbridge storage up` for the embedded one), then rerun: "
                                    "finished videos are skipped")


# ------------------------------------------------------------------------ processes
def stop_tree(pid: int, grace: float = STOP_GRACE_S) -> list[int]:
    """SIGTERM the runner and every process below it at once, SIGKILL what is left after ``grace``."""
    from signbridge.processes import stop

    return stop(pid, sig=signal.SIGTERM, grace=grace, whole_tree=True)


def die_with_parent() -> None:
    """In the runner, before exec: the kernel SIGKILLs it if ``signbridge process`` dies, however it dies
    (it is in the caller's process group too, so a signal to the group reaches it)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not glibc: the group signal and stop_tree still apply


@contextmanager
def cancel_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`RunCancelled` in the main thread while the block runs."""
    def handler(signum, _frame):
        for s in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        raise RunCancelled(f"stopped by {signal.Signals(signum).name}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def mark_cancelled(run_store, run_id: str, reason: str) -> str | None:
    """The run's record says it was cancelled (``runs/<run_id>/cancelled.json``); no manifest is faked."""
    doc = {"run_id": run_id, "state": "cancelled", "reason": reason,
           "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "resume": "run the same command again: finished videos are skipped, the rest is redone"}
    try:
        return run_store.put_bytes("cancelled.json", json.dumps(doc, indent=2).encode(), "application/json")
    except StorageError:
        return None
