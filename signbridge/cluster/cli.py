"""``signbridge cluster up [--workers N] [--queues Q ...] | down | status``."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json

    p = sub.add_parser("cluster", help="run a local Airflow CeleryExecutor cluster (PostgreSQL, Redis, workers)",
                       description="A real Airflow deployment under $SIGNBRIDGE_HOME/cluster, 127.0.0.1 only: "
                                   "PostgreSQL metadata DB, Redis broker, scheduler, DAG processor, API server, "
                                   "triggerer and Celery workers. `signbridge process --executor celery` submits to it.")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = csub.add_parser("up", help="start whatever is not running and wait until every component is healthy")
    add_common(q)
    q.add_argument("--workers", type=int, help="Celery workers (default: as before, or 2)")
    q.add_argument("--queues", action="append", metavar="Q1,Q2",
                   help="queues of one worker, given once per worker in order (default: every queue: "
                        "default,extract,gpu,tts)")
    q.add_argument("--concurrency", type=int, default=1, help="task slots per worker (default 1)")
    q.add_argument("--port", dest="cluster_port", type=int,
                   help="API server port; PostgreSQL and Redis use the next two (SIGNBRIDGE_CLUSTER_PORT)")
    q.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for health (default 240)")
    add_json(q, "the components")
    q.set_defaults(func=_up)
    for name, help_, func in [("down", "stop every component by PID (workers first)", _down),
                              ("status", "each component, its PID and health (exit 3 when not all healthy)", _status)]:
        q = csub.add_parser(name, help=help_)
        add_common(q)
        add_json(q, "the components" if name == "status" else "what was stopped")
        q.set_defaults(func=func)
    q = csub.add_parser("env", help="print the export lines a Celery worker needs to join (contains secrets)")
    add_common(q)
    add_json(q, "the variables")
    q.set_defaults(func=_env)


def _print(statuses, as_json: bool) -> None:
    if as_json:
        print(json.dumps([s.__dict__ for s in statuses], indent=2))
        return
    if not statuses:
        print("the cluster is not running")
        return
    w = max(len(s.name) for s in statuses)
    for s in statuses:
        state = "healthy" if s.healthy else ("running" if s.running else "stopped")
        print(f"{s.name:<{w}}  {state:<8} pid {str(s.pid or '-'):<8} {s.detail}")


def _up(args) -> int:
    import sys

    from signbridge.cli import settings_from_args
    from signbridge.cluster.manager import Cluster
    from signbridge.orchestrate.embedded import ensure_store

    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    settings, _ = ensure_store(settings_from_args(args).validate(), [], say)
    statuses = Cluster(settings).up(workers=args.workers, queues=args.queues, concurrency=args.concurrency,
                                    timeout=args.timeout, say=say)
    _print(statuses, args.json)
    return 0 if all(s.healthy for s in statuses) else 1


def _down(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.cluster.manager import Cluster

    stopped = Cluster(settings_from_args(args)).down(say=(lambda m: None) if args.json else print)
    if args.json:
        print(json.dumps({"stopped": stopped}))
    elif not stopped:
        print("the cluster was not running")
    return 0


def _status(args) -> int:
    from signbridge.cli import settings_from_args
    from signbridge.cluster.manager import Cluster

    statuses = Cluster(settings_from_args(args)).status()
    _print(statuses, args.json)
    return 0 if statuses and all(s.healthy for s in statuses) else 3


def _env(args) -> int:
    """What a worker elsewhere needs (docs/deployment.md): broker, DB, execution API, shared secrets, S3."""
    import shlex

    from signbridge.cli import emit, settings_from_args
    from signbridge.cluster.manager import Cluster
    from signbridge.orchestrate.embedded import ensure_store

    settings, _ = ensure_store(settings_from_args(args).validate(), [], lambda m: None)
    env = Cluster(settings).deployment().airflow_env()
    keep = ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL",
            "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__CORE__LOAD_EXAMPLES", "SIGNBRIDGE_OUTPUT", "SIGNBRIDGE_UPLOADS",
            "SIGNBRIDGE_STORE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION", "SIGNBRIDGE_S3_PATH_STYLE")
    found = {k: env[k] for k in keep if env.get(k)}
    if not emit(args, found):
        for k, v in found.items():
            print(f"export {k}={shlex.quote(v)}")
    return 0
