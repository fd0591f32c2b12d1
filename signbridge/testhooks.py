"""Synchronisation points, so that tests stop a run at a known moment or see tasks run at once without timing.

A no-op unless ``SIGNBRIDGE_TEST_SYNC`` names a folder (tests set it; nothing else should). There,
:func:`sync_point` records each arrival as ``<name>.<pid>.<n>.arrived``, then looks for ``<name>.barrier``:

* a number N: wait until N arrivals are recorded: a barrier that N concurrent tasks pass together and that a
  serial run can never pass (it fails after ``SIGNBRIDGE_TEST_SYNC_TIMEOUT`` seconds, default 300);
* ``hold``: wait until the process is killed (the moment a kill test wants to kill it at).

Without a ``.barrier`` file the arrival is only recorded.
"""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

ENV = "SIGNBRIDGE_TEST_SYNC"
_arrivals = itertools.count()


class SyncTimeout(RuntimeError):
    """A barrier that never filled: the tasks it waits for did not run at the same time."""


def sync_point(name: str) -> None:
    root = os.environ.get(ENV)
    if not root:
        return
    folder = Path(root)
    (folder / f"{name}.{os.getpid()}.{next(_arrivals)}.arrived").touch()
    spec = folder / f"{name}.barrier"
    if not spec.is_file():
        return
    want = spec.read_text().strip()
    timeout = float(os.environ.get(f"{ENV}_TIMEOUT", "300"))
    deadline = time.monotonic() + timeout
    while want == "hold" or len(list(folder.glob(f"{name}.*.arrived"))) < int(want):
        if time.monotonic() > deadline:
            raise SyncTimeout(f"test barrier {name!r}: {want} arrivals wanted, "
                              f"{len(list(folder.glob(f'{name}.*.arrived')))} came within {timeout:.0f} s")
        time.sleep(0.05)
