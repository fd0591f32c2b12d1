"""Processes SignBridge starts, found again and stopped by PID: one place, on psutil.

A PID alone does not say who a process is: the kernel hands a freed PID to the next process. So a PID
kept past the moment we started it (the embedded store's pid file, the cluster's state, a scratch
folder's owner) is kept together with the process's create time (:func:`create_time`), and every check
takes it: a PID that now belongs to another process is neither "alive" nor ever signalled.
"""
from __future__ import annotations

import os
import signal
import time

import psutil

_SAME_START_S = 0.05  # psutil computes the create time from clock ticks (1/100 s): equal within that


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, as a container's CPU set limits it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def create_time(pid: int | None) -> float | None:
    """When ``pid`` started (seconds since the epoch); None when there is no such process."""
    try:
        return psutil.Process(pid).create_time() if pid else None
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _same(p: psutil.Process, started: float | None) -> bool:
    if started is None:
        return True
    if started < 1e9:  # a record from before this module: clock ticks since boot, not seconds since the epoch
        started = psutil.boot_time() + started / os.sysconf("SC_CLK_TCK")
    return abs(p.create_time() - started) < _SAME_START_S


def alive(pid: int | None, started: float | None = None) -> bool:
    """Running (a zombie is not), and when ``started`` is given still the process that started then."""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE and _same(p, started)
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.AccessDenied:
        return True  # someone else's process, but it exists


def cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, ValueError):
        return ""


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it, parents first (empty when ``pid`` is gone)."""
    try:
        p = psutil.Process(pid)
        return [pid, *(c.pid for c in p.children(recursive=True))]
    except (psutil.NoSuchProcess, ValueError):
        return []


def descendants(pid: int) -> list[int]:
    return tree(pid)[1:]


def reap(pid: int) -> None:
    """Collect the exit status of our own child (tests start servers in-process); anyone else's: nothing."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signal(pids, sig: int, group: bool = False) -> None:
    for p in pids:
        try:
            os.killpg(p, sig) if group else os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            if group:  # not a group leader (or already gone): the process itself
                try:
                    os.kill(p, sig)
                except (ProcessLookupError, PermissionError):
                    pass


def _wait_gone(pids, timeout: float) -> list[int]:
    """Wait up to ``timeout`` for ``pids`` to end; returns those still running. An ended child of ours counts
    as gone (a zombie is not alive) and is not reaped here: its ``Popen`` keeps its exit status."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def stop(pid: int | None, started: float | None = None, *, sig: int = signal.SIGTERM, grace: float = 20.0,
         whole_tree: bool = False, group: bool = False) -> list[int]:
    """TERM then KILL: ``sig`` to ``pid`` (to its process group with ``group``; to it and every descendant at
    once with ``whole_tree``), up to ``grace`` seconds to end, then SIGKILL to whatever of its tree is left.

    The tree is read before any signal and again before the SIGKILL (a worker may fork late). Returns every
    PID found; empty when ``pid`` was not running or is now another process (``started`` differs).
    """
    if not alive(pid, started):
        return []
    found = tree(pid)
    _signal(found if whole_tree else [pid], sig, group)
    _wait_gone(found if whole_tree else [pid], grace)
    found = list(dict.fromkeys(found + [q for p in found if alive(p) for q in tree(p)]))
    left = [p for p in found if alive(p)]
    _signal(left, signal.SIGKILL, group and pid in left)
    _wait_gone(left, 5.0)
    return found


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> list[int]:
    """``sig`` to ``pid`` and every process below it at once (a machine dying, as tests need it); waits
    until they are gone. Returns the PIDs."""
    found = tree(pid)
    _signal(found, sig)
    _wait_gone(found, 10.0)
    return found


__all__ = ["alive", "cmdline", "create_time", "descendants", "kill_tree", "reap", "stop", "tree"]
