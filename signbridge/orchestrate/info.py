"""``signbridge info``: where everything is (home, store, credentials, Airflow, logs, results).

Every command resolves the same home (``SIGNBRIDGE_HOME``, else the per-user data directory), so
this is also the quickest check that two shells or two directories share one store.
"""
from __future__ import annotations

import argparse
import json
import os


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
    }
    if settings.s3_endpoint:
        out["store"] = {"kind": "configured", "endpoint": settings.s3_endpoint}
    else:
        from signbridge.storage.embedded import EmbeddedStore

        emb = EmbeddedStore(settings)
        st = emb.status()
        out["store"] = {"kind": "embedded SeaweedFS", "endpoint": st.endpoint, "running": st.running,
                        "pid": st.pid, "data": st.data_dir, "credentials": str(emb.cred_file),
                        "log": str(emb.log_file)}
    return out


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
    print(f"{'store':<13} {store['kind']} at {store['endpoint']}{state}")
    for k in ("data", "credentials", "log"):
        if k in store:
            print(f"{'  ' + k:<13} {store[k]}")
    return 0
