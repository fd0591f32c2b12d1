"""Live progress of a ``signbridge process`` run: per stage, videos done / total, the current stage,
elapsed time and failures so far.

Read from what the run already writes, never from its logs: the plan and the per-stage state files
under ``<output>/runs/<run_id>/`` (each is read once) and the task states the DAG runner writes every
few seconds, read through Airflow's ORM (``runner.py --progress``; this process never opens Airflow's
database). ``rich`` bars on a terminal, one plain line per change otherwise (CI logs, pipes);
``--no-progress`` shows nothing.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

STAGES = ("extract", "recognize", "compose", "speak", "mux")
TASK_STAGE = {"discover": "discover", "extract": "extract", "assemble": "extract", "recognize": "recognize",
              "compose": "compose", "speak": "speak", "mux": "mux", "publish": "publish"}


@dataclass
class Snapshot:
    total: int | None = None
    done: dict[str, float] = field(default_factory=dict)
    failed: int = 0
    retries: int = 0
    current: str = "starting"
    elapsed: float = 0.0

    def line(self) -> str:
        tot = "?" if self.total is None else str(self.total)
        stages = " · ".join(f"{s} {int(self.done.get(s, 0))}/{tot}" for s in STAGES)
        extra = f", {self.retries} task retr{'y' if self.retries == 1 else 'ies'}" if self.retries else ""
        return f"[{self.elapsed:5.0f} s] {stages} | now: {self.current} | failed: {self.failed}{extra}"


class RunWatch:
    """Builds a :class:`Snapshot` from the run's state files and the runner's task-state file."""

    def __init__(self, run_store, run_id: str, tasks_file: Path):
        self.run, self.run_id, self.tasks_file = run_store, run_id, tasks_file
        self.t0 = time.monotonic()
        self.plan: dict | None = None
        self.seen: dict[str, dict] = {}  # state key -> counts read from it

    def _read(self, key: str) -> dict:
        if key not in self.seen:
            doc = json.loads(self.run.get_bytes(key))
            states = doc.get("videos") if isinstance(doc, dict) and "videos" in doc else doc
            if isinstance(doc, dict) and "chunk" in doc:
                states = []
            failed = sum(1 for d in states or [] if d.get("status") == "failed")
            self.seen[key] = {"videos": len(states or []), "failed": failed}
        return self.seen[key]

    def _unit_weights(self) -> dict[int, float]:
        units = (self.plan or {}).get("units") or []
        return {k: (1.0 / u.get("of", 1) if "chunk" in u else float(len(u.get("videos", [])))) for k, u in
                enumerate(units)}

    def snapshot(self) -> Snapshot:
        snap = Snapshot(elapsed=time.monotonic() - self.t0)
        try:
            keys = [o.key for o in self.run.list("")]
            if self.plan is None and "plan.json" in keys:
                self.plan = json.loads(self.run.get_bytes("plan.json"))
            if self.plan is not None:
                snap.total = len(self.plan.get("videos") or [])
                weights = self._unit_weights()
                failed_by_stage: dict[str, int] = {}
                for key in keys:
                    parts = key.split("/")
                    if len(parts) != 3 or parts[0] != "state" or parts[1] not in STAGES + ("assemble",):
                        continue
                    stage = parts[1]
                    got = self._read(key)
                    if stage == "extract":
                        n = int(parts[2][1:6]) if parts[2][1:6].isdigit() else -1
                        snap.done["extract"] = snap.done.get("extract", 0.0) + weights.get(n, 0.0)
                    elif stage != "assemble":
                        snap.done[stage] = snap.done.get(stage, 0.0) + got["videos"]
                    failed_by_stage[stage] = failed_by_stage.get(stage, 0) + got["failed"]
                snap.failed = max(failed_by_stage.values(), default=0)
        except Exception:  # noqa: BLE001 - progress is best effort; the run itself reports errors
            pass
        self._tasks(snap)
        return snap

    def _tasks(self, snap: Snapshot) -> None:
        try:
            doc = json.loads(self.tasks_file.read_text())
        except (OSError, ValueError):
            return  # not written yet
        tasks = doc.get("tasks") or []
        running = sorted((t for t in tasks if t.get("state") == "running"), key=lambda t: t.get("start") or 0)
        snap.retries = sum(1 for t in tasks if t.get("state") == "up_for_retry")
        snap.failed = max(snap.failed, sum(1 for t in tasks if t.get("state") == "failed" and t["task_id"] != "publish"))
        if running:
            snap.current = TASK_STAGE.get(running[-1]["task_id"], running[-1]["task_id"])
        elif tasks:
            done = sorted((t for t in tasks if t.get("state") in ("success", "failed", "skipped")),
                          key=lambda t: t.get("end") or 0)
            last = done[-1]["task_id"] if done else None
            snap.current = f"after {TASK_STAGE.get(last, last)}" if last else "queued"


class PlainProgress:
    """A line whenever something changed, plus one every ``heartbeat`` seconds."""

    def __init__(self, out: Callable[[str], None], heartbeat: float = 30.0):
        self.out, self.heartbeat = out, heartbeat
        self.last, self.last_at = "", 0.0

    def update(self, snap: Snapshot) -> None:
        key = snap.line().split("]", 1)[1]
        now = time.monotonic()
        if key != self.last or now - self.last_at >= self.heartbeat:
            self.out(snap.line())
            self.last, self.last_at = key, now

    def close(self) -> None:
        pass


class RichProgress:
    """One bar per stage on the terminal (stderr), with the current stage and failures in the title."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self.ids = {s: self.progress.add_task(s, total=None) for s in STAGES}
        self.progress.start()

    def update(self, snap: Snapshot) -> None:
        for s in STAGES:
            mark = "▶ " if snap.current == s else "  "
            desc = f"{mark}{s}" + (f" ({snap.failed} failed)" if snap.failed and s == STAGES[0] else "")
            self.progress.update(self.ids[s], description=desc, total=snap.total,
                                 completed=min(snap.done.get(s, 0.0), snap.total or 0))

    def close(self) -> None:
        self.progress.stop()


class NoProgress:
    def update(self, snap: Snapshot) -> None:
        pass

    def close(self) -> None:
        pass


def make_progress(mode: str, out: Callable[[str], None]):
    """``mode``: quiet, plain, rich or auto (rich on a terminal, plain otherwise)."""
    if mode == "quiet":
        return NoProgress()
    if mode == "rich" or (mode == "auto" and sys.stderr.isatty()):
        try:
            return RichProgress()
        except ImportError:
            pass
    return PlainProgress(out)
