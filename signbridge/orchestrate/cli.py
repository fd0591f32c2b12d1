"""``signbridge process INPUT...``: the README's main command (the batch through the Airflow DAG)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json
    from signbridge.orchestrate.options import add_stage_options

    p = sub.add_parser(
        "process", help="process videos end to end through the Airflow DAG (the main command)",
        description="Upload videos (files, folders) or take an s3:// prefix, run the signbridge_videos DAG "
                    "(embedded Airflow with a SQLite DB under $SIGNBRIDGE_HOME/airflow; the embedded S3 store "
                    "when no other S3 is configured: `signbridge info` says which store), print where each output is and a per-video summary. "
                    "Exits 1 if any video failed. Finished videos are skipped on a rerun.")
    add_common(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video file, folder or s3://bucket/prefix")
    p.add_argument("-o", "--output", help="results: s3://bucket/prefix or a folder (SIGNBRIDGE_OUTPUT)")
    p.add_argument("--uploads", help="where local videos are uploaded (SIGNBRIDGE_UPLOADS)")
    p.add_argument("--results", help="local folder the results of local inputs are copied into "
                                     "(SIGNBRIDGE_RESULTS, default ./signbridge-results; 'none': no copy)")
    p.add_argument("--executor", choices=("inline", "local", "celery"), default="inline",
                   help="inline: dag.test in one process (default); local: LocalExecutor worker processes "
                        "(with an execution API server on 127.0.0.1); celery: submit to the cluster of "
                        "`signbridge cluster up`, or to the Airflow at SIGNBRIDGE_AIRFLOW_URL")
    p.add_argument("--parallelism", type=int, default=2, help="task processes for --executor local (default 2)")
    p.add_argument("--batch-seconds", dest="batch_seconds", type=float,
                   help="seconds of short video per extraction task (SIGNBRIDGE_BATCH_SECONDS)")
    p.add_argument("--videos-per-batch", dest="videos_per_batch", type=int,
                   help="videos per recognise/speak/mux task (default 64)")
    add_json(p, "the run (manifest, task records, asset events) instead of the table")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="live progress on stderr: bars on a terminal, a line per change otherwise (default: on)")
    p.add_argument("-q", "--quiet", dest="progress", action="store_false", help=argparse.SUPPRESS)  # deprecated
    add_stage_options(p)
    p.set_defaults(func=_process)


def _process(args) -> int:
    import json
    import sys

    from signbridge.cli import settings_from_args
    from signbridge.orchestrate.embedded import print_result, process
    from signbridge.orchestrate.options import stage_options

    settings = settings_from_args(args)
    options = stage_options(args)
    for k in ("batch_seconds", "videos_per_batch"):
        if getattr(args, k, None) is not None:
            options[k] = getattr(args, k)
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    res = process(args.inputs, settings, output=args.output, executor=args.executor, parallelism=args.parallelism,
                  options=options, say=say, progress="auto" if args.progress else "quiet")
    if args.json:
        print(json.dumps({"manifest": res.manifest, "manifest_uri": res.manifest_uri, "report": res.report_uri,
                          "local_report": res.local_report, "local_results": res.local_results,
                          "log": res.log_path, "dag_state": res.dag_state,
                          "tasks": res.tasks, "asset_events": res.asset_events, "not_uploaded": [st.to_dict() for st in res.not_uploaded]},
                         indent=2))
    else:
        print_result(res)
    return 1 if res.failed else 0
