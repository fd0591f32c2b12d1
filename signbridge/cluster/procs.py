"""Processes of the cluster: started detached in their own session, found again by PID, stopped by PID.

A component outlives the ``cluster up`` command that started it, so everything here works from
a PID and the start time recorded for it, so a reused PID is never signalled.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

from signbridge.errors import ConfigError, SignBridgeError


def spawn(cmd: Sequence[str], env: dict[str, str], log_path: Path, *, user: str | None = None,
          cwd: Path | None = None) -> int:
    """Start ``cmd`` in its own session with stdout/stderr to ``log_path``; returns its PID."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=cwd, user=user, group=user, extra_groups=[] if user else None)
    return proc.pid


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat fields after the command name: [state, ppid, ..., starttime at index 19]."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the PID, who it is (PIDs get reused)."""
    st = _stat(pid)
    return int(st[19]) if st else None


def alive(pid: int | None, started: int | None = None) -> bool:
    """Running (not a zombie), and when ``started`` is given still the process that started then."""
    st = _stat(pid) if pid else None
    if st is None or st[0] in ("Z", "X"):
        return False
    return started is None or int(st[19]) == started


def _reap(pid: int) -> None:
    try:  # only succeeds for our own children (tests start the cluster in-process)
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, then theirs), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int((_stat(int(entry)) or ["", "0"])[1])
        except ValueError:
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to ``pid`` and every process below it at once (a machine dying, as tests need it)."""
    tree = [pid, *descendants(pid)]
    for p in tree:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 10  # signals are delivered asynchronously: wait until they are gone
    while time.monotonic() < end and any(alive(p) for p in tree):
        for p in tree:
            _reap(p)
        time.sleep(0.05)
    return tree


def stop(pid: int, started: int | None, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> bool:
    """Stop a component by PID: ``sig`` to it, wait, then SIGKILL whatever of its tree is left.

    Returns False when it was not running (or the PID now belongs to something else).
    """
    if not alive(pid, started):
        return False
    tree = descendants(pid)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        _reap(pid)
        time.sleep(0.1)
    left = [p for p in [pid, *tree, *descendants(pid)] if alive(p)]
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 5
    while time.monotonic() < end and any(alive(p) for p in left):
        for p in left:
            _reap(p)
        time.sleep(0.05)
    return True


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
            _reap(pid)
            raise Exited(f"{what} exited while starting", hint=tail_hint(log_path))
        time.sleep(interval)
    raise SignBridgeError(f"{what} was not healthy within {timeout:.0f} s" + (f" ({detail})" if detail else ""),
                          hint=tail_hint(log_path))


def tail_hint(log_path: Path | None) -> str | None:
    if log_path is None or not log_path.is_file():
        return None
    tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-6:])
    return f"log {log_path}:\n{tail}"
