"""``signbridge info``: where everything is (home, store, credentials, Airflow, logs, results).

Every command resolves the same home (``SIGNBRIDGE_HOME``, else the per-user data directory), so
this is also the quickest check that two shells or two directories share one store.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Mapping


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json

    p = sub.add_parser("info", help="print where the home, store, credentials, Airflow state and results are",
                       description="Print the resolved settings that say where things are: SIGNBRIDGE_HOME (and "
                                   "where its value came from), the object store and its credentials, the "
                                   "Airflow home and logs, the output and uploads prefixes.")
    add_common(p)
    add_json(p, "the locations")
    p.set_defaults(func=_info)


def locations(settings) -> dict[str, object]:
    """The paths and endpoints every command uses, resolved from ``settings``."""
    from pathlib import Path

    from signbridge import __version__

    home = Path(settings.home)
    out: dict[str, object] = {
        "version": __version__,
        "home": str(home),
        "home_from": "SIGNBRIDGE_HOME" if os.environ.get("SIGNBRIDGE_HOME") else "per-user data directory (default)",
        "output": settings.output,
        "uploads": settings.uploads,
        "airflow_home": str(home / "airflow"),
        "airflow_logs": str(home / "airflow" / "logs"),
        "results": str(Path(settings.results).resolve()) if settings.results.lower() != "none" else "none",
        "cache": str(home / "cache"),
        "dags": _dags(),
    }
    from signbridge.storage.target import EMBEDDED, choose_store

    store = describe_store(settings)
    if choose_store(settings).kind == EMBEDDED:
        from signbridge.storage.embedded import EmbeddedStore

        emb = EmbeddedStore(settings)
        st = emb.status()
        store.update({"endpoint": st.endpoint, "running": st.running, "pid": st.pid, "data": st.data_dir,
                      "credentials": str(emb.cred_file), "log": str(emb.log_file)})
    out["store"] = store
    return out


def _dags() -> str:
    from signbridge.errors import ConfigError
    from signbridge.orchestrate.airflow_env import dags_folder

    try:
        return str(dags_folder())
    except ConfigError as e:
        return f"missing: {e.message}"


def _info(args) -> int:
    from signbridge.cli import settings_from_args

    info = locations(settings_from_args(args))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    store = info.pop("store")
    for k, v in info.items():
        print(f"{k:<13} {v}")
    assert isinstance(store, dict)
    state = "" if "running" not in store else (" (running, pid %s)" % store["pid"] if store["running"]
                                               else " (stopped; `signbridge process` or `signbridge storage up` "
                                                    "starts it)")
    print(f"{'store':<13} {store['kind']}" + (f" at {store['endpoint']}" if store.get("endpoint") else "") + state)
    for k in ("why", "region", "addressing", "credentials", "problem", "data", "log"):
        if k in store:
            print(f"{'  ' + k:<13} {store[k]}")
    return 0


def describe_store(settings, env: Mapping[str, str] | None = None) -> dict[str, object]:
    """What ``signbridge info`` prints about the store: which, why, and the client boto3 builds for it
    (endpoint, region, addressing: read from the client, no request is made)."""
    from signbridge.storage import resolve_s3_settings
    from signbridge.storage.s3 import make_client
    from signbridge.storage.embedded import EmbeddedStore
    from signbridge.storage.target import ADDRESSING, AWS, EMBEDDED, addressing_style, choose_store

    choice = choose_store(settings, env)
    out: dict[str, object] = {"kind": choice.label, "why": choice.reason}
    if choice.kind == EMBEDDED:  # its endpoint without its keys: `info` creates nothing
        resolved = settings.replace(s3_endpoint=EmbeddedStore(settings).endpoint, s3_path_style=True,
                                    s3_region="us-east-1")
    else:
        resolved = resolve_s3_settings(settings, choice)
    try:
        client = make_client(resolved)
        out.update(endpoint=client.meta.endpoint_url, region=client.meta.region_name,
                   addressing=ADDRESSING[addressing_style(resolved)])
    except Exception as e:  # noqa: BLE001 - e.g. a profile that does not exist: say it, do not crash `info`
        out.update(endpoint=resolved.s3_endpoint, problem=f"{type(e).__name__}: {e}")
    if choice.kind == AWS:
        out["credentials"] = _credential_source(resolved)
    return out


def _credential_source(settings) -> str:
    """Where boto3 found credentials (env, shared-credentials-file, sso, iam-role, ...), or that it found none."""
    import boto3

    try:
        creds = boto3.session.Session(region_name=settings.s3_region).get_credentials()
    except Exception as e:  # noqa: BLE001 - a broken profile is information here
        return f"cannot load: {type(e).__name__}: {e}"
    return creds.method if creds is not None else "none found (boto3's chain: env, profile, SSO, instance role)"
