"""Run one DAG once, in this process (``dag.test``), optionally through the configured executor.

Started by :mod:`signbridge.orchestrate.embedded` as a child process whose environment
(``AIRFLOW_HOME``, DAG folder, executor, S3 settings) was prepared beforehand, because Airflow
reads its configuration at import. Writes a JSON result (run state, every task instance's state,
times, PID and host, the asset events the run emitted) so the caller never parses Airflow's logs, and,
with ``--progress FILE``, the same document every few seconds while the run goes on (what
:mod:`signbridge.orchestrate.progress` shows): everything is read through Airflow's ORM, never with
SQL on its tables, so an Airflow upgrade that changes them changes nothing here.

    python -m signbridge.orchestrate.runner DAG_ID --conf FILE --result FILE [--progress FILE] [--use-executor]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def ensure_pools(slots: dict[str, int]) -> None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        for name, n in slots.items():
            Pool.create_or_update_pool(name, slots=n, description=f"SignBridge {name} stages",
                                       include_deferred=False, session=session)


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        first = next(iter(bag.import_errors.items()))
        raise SystemExit(f"DAG import error in {first[0]}:\n{first[1]}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"no DAG {dag_id!r} in {os.environ['AIRFLOW__CORE__DAGS_FOLDER']}")
    return dag


INLINE_ENV = "SIGNBRIDGE_INLINE_RUN"  # set while dag.test runs tasks in this process (no executor)
EXECUTOR_END_GRACE_S = 60.0  # a finished run whose executor has not shut down by then is hung


def run_result(dag_id: str, conf_run_id: str | None = None, dagrun_id: int | None = None,
               executor: str = "dag.test", finished_only: bool = False) -> dict | None:
    """The JSON result of one DAG run, from the metadata database (by row id, or by the ``run_id`` in its conf)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        if dagrun_id is not None:
            run = session.get(DagRun, dagrun_id)
        else:
            recent = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(5)
            run = next((r for r in recent if (r.conf or {}).get("run_id") == conf_run_id), None)
        if run is None or (finished_only and str(run.state).rsplit(".", 1)[-1].lower() not in ("success", "failed")):
            return None
        tis = run.get_task_instances(session=session)
        tasks = [{"task_id": ti.task_id, "map_index": ti.map_index, "state": _state(ti.state),
                  "try_number": ti.try_number, "pid": ti.pid, "hostname": ti.hostname,
                  "start": ti.start_date.timestamp() if ti.start_date else None,
                  "end": ti.end_date.timestamp() if ti.end_date else None} for ti in tis]
        return {"dag_id": dag_id, "run_id": run.run_id, "state": _state(run.state), "tasks": tasks,
                "executor": executor, "asset_events": asset_events(session, dag_id, run.run_id)}


def _state(state) -> str | None:
    """``TaskInstanceState.SUCCESS`` / ``DagRunState.SUCCESS`` -> ``success`` (the enum's value)."""
    return None if state is None else str(getattr(state, "value", state))


def asset_events(session, dag_id: str, run_id: str) -> list[dict]:
    """The asset events a run emitted (what schedules downstream DAGs), from the ORM."""
    from airflow.models.asset import AssetEvent, AssetModel

    rows = (session.query(AssetEvent, AssetModel).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
            .order_by(AssetEvent.id).all())
    return [{"asset": a.name, "uri": a.uri, "task_id": e.source_task_id, "extra": e.extra,
             "timestamp": e.timestamp.timestamp()} for e, a in rows]


def write_json(path: Path, doc: dict) -> None:
    """Replace ``path`` at once: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def watch_progress(dag_id: str, conf_run_id: str, path: Path, every: float = 2.0) -> None:
    """Write the run's task states to ``path`` every ``every`` seconds while it runs (a daemon thread)."""
    import threading
    import time

    def watch() -> None:
        while True:
            try:
                out = run_result(dag_id, conf_run_id=conf_run_id)
                if out is not None:
                    write_json(path, out)
            except Exception:  # noqa: BLE001 - the database is busy or the run not created yet; look again
                pass
            time.sleep(every)

    threading.Thread(target=watch, name="progress-watch", daemon=True).start()


def watch_executor_shutdown(dag_id: str, conf_run_id: str, result: Path, executor: str,
                            grace: float = EXECUTOR_END_GRACE_S) -> None:
    """Finish the process if the run is over but ``dag.test`` never returns.

    LocalExecutor's shutdown joins its worker processes and can wait on one forever after every task has
    finished (apache/airflow#45329; seen here once in about ten runs: the DAG done in 16 s, the process
    still waiting 10 minutes later). The run's outcome is already in the database, so after ``grace``
    seconds this writes the result from there, ends the executor's workers and exits.
    """
    import multiprocessing
    import threading
    import time

    def watch() -> None:
        finished_at = None
        while True:
            time.sleep(5)
            try:
                out = run_result(dag_id, conf_run_id=conf_run_id, executor=executor, finished_only=True)
            except Exception:  # noqa: BLE001 - the database is busy; look again
                continue
            if out is None:
                continue
            finished_at = finished_at or time.monotonic()
            if time.monotonic() - finished_at < grace:
                continue
            print(f"signbridge: the run finished {grace:.0f} s ago but the executor has not shut down "
                  "(apache/airflow#45329); ending its workers", file=sys.stderr, flush=True)
            write_json(result, out)
            for child in multiprocessing.active_children():
                child.kill()
            os._exit(0)

    threading.Thread(target=watch, name="executor-shutdown-watch", daemon=True).start()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="signbridge.orchestrate.runner")
    ap.add_argument("dag_id")
    ap.add_argument("--conf", required=True, help="JSON file with the run conf (DAG params)")
    ap.add_argument("--result", required=True, help="where to write the JSON result")
    ap.add_argument("--use-executor", action=argparse.BooleanOptionalAction, default=False,
                    help="send tasks to the configured executor")
    ap.add_argument("--gpu-slots", type=int, default=1)
    ap.add_argument("--progress", help="write the run's task states here every few seconds (JSON)")
    args = ap.parse_args(argv)

    conf = json.loads(Path(args.conf).read_text())
    executor = os.environ.get("AIRFLOW__CORE__EXECUTOR") if args.use_executor else "dag.test"
    ensure_pools({"gpu": args.gpu_slots})
    dag = load_dag(args.dag_id)
    if args.use_executor and conf.get("run_id"):
        watch_executor_shutdown(args.dag_id, conf["run_id"], Path(args.result), executor)
    if args.progress and conf.get("run_id"):
        watch_progress(args.dag_id, conf["run_id"], Path(args.progress))
    if not args.use_executor:  # tasks run one at a time in this process: extraction units may use every core
        os.environ[INLINE_ENV] = "1"
    dr = dag.test(run_conf=conf, use_executor=args.use_executor)
    out = run_result(args.dag_id, dagrun_id=getattr(dr, "id", None), conf_run_id=conf.get("run_id"), executor=executor)
    if out is None:
        raise SystemExit(f"the run of {args.dag_id} is not in the metadata database")
    write_json(Path(args.result), out)
    if args.progress:
        write_json(Path(args.progress), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
