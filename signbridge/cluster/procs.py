"""Processes of the cluster: started detached in their own session; ports; waiting for health.

A component outlives the ``cluster up`` command that started it, so it is found again and stopped by
its PID and the create time recorded with it (:mod:`signbridge.processes`), so a reused PID is never
signalled.
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

from signbridge.errors import ConfigError, SignBridgeError
from signbridge.processes import alive, reap


def spawn(cmd: Sequence[str], env: dict[str, str], log_path: Path, *, user: str | None = None,
          cwd: Path | None = None) -> int:
    """Start ``cmd`` in its own session with stdout/stderr to ``log_path``; returns its PID."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=cwd, user=user, group=user, extra_groups=[] if user else None)
    return proc.pid


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports_free(ports: dict[str, int]) -> None:
    """A clear error naming the first port (and what we wanted it for) that something else holds."""
    for name, port in ports.items():
        if port_in_use(port):
            raise ConfigError(f"cannot start the cluster: port {port} ({name}) on 127.0.0.1 is already in use",
                              hint="stop what uses it, or choose other ports with SIGNBRIDGE_CLUSTER_PORT "
                                   "(the API server's port; PostgreSQL and Redis use the next two)")


class Exited(SignBridgeError):
    """A component died while we waited for it: no point waiting longer."""


def wait_for(check, timeout: float, what: str, log_path: Path | None = None, pid: int | None = None,
             interval: float = 0.5):
    """Poll ``check()`` until it returns something truthy; a clear error on timeout or when ``pid`` dies
    (``check`` may raise :class:`Exited` for the same)."""
    deadline = time.monotonic() + timeout
    detail = ""
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except Exited:
            raise
        except Exception as e:  # noqa: BLE001 - not ready yet; the last reason goes into the error
            detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        if pid is not None and not alive(pid):
            reap(pid)
            raise Exited(f"{what} exited while starting", hint=tail_hint(log_path))
        time.sleep(interval)
    raise SignBridgeError(f"{what} was not healthy within {timeout:.0f} s" + (f" ({detail})" if detail else ""),
                          hint=tail_hint(log_path))


def tail_hint(log_path: Path | None) -> str | None:
    if log_path is None or not log_path.is_file():
        return None
    tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-6:])
    return f"log {log_path}:\n{tail}"
