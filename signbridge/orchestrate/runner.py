"""Run one DAG once, in this process (``dag.test``), optionally through the configured executor.

Started by :mod:`signbridge.orchestrate.embedded` as a child process whose environment
(``AIRFLOW_HOME``, DAG folder, executor, S3 settings) was prepared beforehand, because Airflow
reads its configuration at import. Writes a JSON result (run state and every task instance's
state, times, PID and host) so the caller never parses Airflow's logs.

    python -m signbridge.orchestrate.runner DAG_ID --conf FILE --result FILE [--use-executor]
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="signbridge.orchestrate.runner")
    ap.add_argument("dag_id")
    ap.add_argument("--conf", required=True, help="JSON file with the run conf (DAG params)")
    ap.add_argument("--result", required=True, help="where to write the JSON result")
    ap.add_argument("--use-executor", action="store_true", help="send tasks to the configured executor")
    ap.add_argument("--gpu-slots", type=int, default=1)
    args = ap.parse_args(argv)

    conf = json.loads(Path(args.conf).read_text())
    ensure_pools({"gpu": args.gpu_slots})
    dag = load_dag(args.dag_id)
    dr = dag.test(run_conf=conf, use_executor=args.use_executor)

    from airflow.utils.session import create_session

    with create_session() as session:
        from airflow.models.dagrun import DagRun

        run = session.get(DagRun, dr.id) if getattr(dr, "id", None) else dr
        tis = run.get_task_instances(session=session)
        tasks = [{"task_id": ti.task_id, "map_index": ti.map_index, "state": str(ti.state) if ti.state else None,
                  "try_number": ti.try_number, "pid": ti.pid, "hostname": ti.hostname,
                  "start": ti.start_date.timestamp() if ti.start_date else None,
                  "end": ti.end_date.timestamp() if ti.end_date else None} for ti in tis]
        out = {"dag_id": args.dag_id, "run_id": run.run_id, "state": str(run.state), "tasks": tasks,
               "executor": os.environ.get("AIRFLOW__CORE__EXECUTOR") if args.use_executor else "dag.test"}
    Path(args.result).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
