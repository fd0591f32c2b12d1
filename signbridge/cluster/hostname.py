"""Airflow's ``[core] hostname_callable`` for Celery workers: ``<worker>@<host>``.

Task instances record the hostname of the worker that ran them; several workers on one machine
would all record the same host name, so each worker's name (``SIGNBRIDGE_CLUSTER_WORKER``, set
by ``signbridge cluster up``) is put in front, matching the worker's Celery node name.
"""
from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    host = socket.getfqdn()
    name = os.environ.get("SIGNBRIDGE_CLUSTER_WORKER")
    return f"{name}@{host}" if name else host
