"""signbridge.processes on real processes: the create-time guard against PID reuse, process trees, TERM then KILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from signbridge import processes

IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
              "time.sleep(60)"


@pytest.fixture
def started():
    procs: list[subprocess.Popen] = []

    def start(cmd, **kw) -> subprocess.Popen:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:  # whatever a failed test left: by PID, only what this test started
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def test_a_pid_with_another_create_time_is_neither_alive_nor_signalled(started):
    p = started(["sleep", "30"])
    t = processes.create_time(p.pid)
    assert t and abs(t - time.time()) < 30
    assert processes.alive(p.pid) and processes.alive(p.pid, t)
    assert not processes.alive(p.pid, t - 5)  # what a reused PID looks like: same number, other process
    assert processes.stop(p.pid, t - 5, grace=1) == []
    assert p.poll() is None  # not signalled
    assert processes.stop(p.pid, t, grace=5) == [p.pid]
    assert p.wait(timeout=5) == -signal.SIGTERM and not processes.alive(p.pid, t)
    assert processes.create_time(p.pid) is None and processes.stop(p.pid, t) == []


def test_a_record_in_clock_ticks_from_before_still_matches(started):
    p = started(["sleep", "30"])
    with open(f"/proc/{p.pid}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    assert processes.alive(p.pid, ticks) and not processes.alive(p.pid, ticks - 500)


def test_stop_whole_tree_kills_what_ignores_term(started):
    parent = started([sys.executable, "-c", "import subprocess, sys, time\n"
                      f"c = subprocess.Popen([sys.executable, '-c', {IGNORE_TERM!r}], stdout=subprocess.PIPE,"
                      " text=True)\nc.stdout.readline(); print(c.pid, flush=True); time.sleep(60)"])
    child = int(parent.stdout.readline())
    assert processes.tree(parent.pid) == [parent.pid, child] and processes.descendants(parent.pid) == [child]
    t0 = time.monotonic()
    found = processes.stop(parent.pid, grace=1.0, whole_tree=True)
    assert sorted(found) == sorted([parent.pid, child])
    assert not processes.alive(child) and parent.wait(timeout=5) == -signal.SIGTERM
    assert time.monotonic() - t0 < 8  # the grace, then SIGKILL for the child that ignored SIGTERM


def test_stop_signals_the_root_first_and_kills_a_stubborn_one(started):
    p = started([sys.executable, "-c", IGNORE_TERM])
    assert p.stdout.readline().strip() == "ready"
    assert processes.stop(p.pid, processes.create_time(p.pid), grace=0.5) == [p.pid]
    assert p.wait(timeout=5) == -signal.SIGKILL


def test_group_stop_reaches_the_session(started):
    p = started(["sh", "-c", "sleep 60 & sleep 60 & echo $!; wait"], start_new_session=True)
    last = int(p.stdout.readline())
    tree = processes.tree(p.pid)
    assert last in tree and len(tree) == 3
    processes.stop(p.pid, grace=5, group=True)
    assert p.wait(timeout=5) != 0 and not any(processes.alive(q) for q in tree)


def test_kill_tree_and_cmdline(started):
    code = "print('ready', flush=True); import time; time.sleep(31)"
    p = started([sys.executable, "-c", code])
    assert p.stdout.readline().strip() == "ready"  # exec'd: its own command line, not the forking parent's
    assert processes.cmdline(p.pid) == f"{sys.executable} -c {code}" and processes.cmdline(2 ** 22 + 7) == ""
    assert processes.kill_tree(p.pid) == [p.pid] and p.wait(timeout=5) == -signal.SIGKILL


def test_stale_scratch_folders_go_live_ones_stay(tmp_path, started):
    from signbridge.pipeline.context import clean_stale_scratch

    p = started(["sleep", "30"])
    me = processes.create_time(os.getpid())
    dead = started(["true"])
    dead.wait(timeout=5)
    for name, text in {"mine": f"{os.getpid()} {me}", "live": f"{p.pid} {processes.create_time(p.pid)}",
                       "dead": f"{dead.pid} {me}", "reused": f"{os.getpid()} {me - 100}",
                       "old-format": f"{p.pid}", "unreadable": "not a pid"}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / ".pid").write_text(text)
    assert clean_stale_scratch(tmp_path) == 2
    assert sorted(d.name for d in tmp_path.iterdir()) == ["live", "mine", "old-format", "unreadable"]
