"""The store's own lease (a conditional put): one holder at a time, across processes and machines,
on the real SeaweedFS store and on a folder; a holder that died is taken over once its lease expires;
a waiter that runs out of time fails naming the holder."""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from signbridge.storage.lease import LeaseHeldError, lease


@pytest.fixture(params=["s3", "folder"])
def store(request, tmp_path):
    from signbridge.storage import open_store

    if request.param == "folder":
        from signbridge.settings import load_settings

        return open_store(str(tmp_path / "out"), load_settings(env={}), create=True)
    settings = request.getfixturevalue("s3_server")
    return open_store(f"s3://ls-{uuid.uuid4().hex[:10]}/out", settings, create=True)


def test_conditional_put_lets_one_writer_win(store):
    first = store.put_bytes_if("k", b"a")
    assert first and store.put_bytes_if("k", b"b") is None  # already there
    assert store.put_bytes_if("k", b"c", if_match="0" * 32) is None  # not the current version
    second = store.put_bytes_if("k", b"d", if_match=first)
    assert second and store.get_versioned("k") == (b"d", second)
    assert not store.delete_if("k", first) and store.delete_if("k", second) and not store.exists("k")


def test_one_holder_at_a_time(store):
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def hold(i: int) -> None:
        try:
            with lease(store, "lease.json", owner=f"t{i}", what="the folder", wait_s=30, poll_s=0.05):
                t0 = time.monotonic()
                time.sleep(0.3)
                spans.append((t0, time.monotonic()))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(spans) == 4
    spans.sort()
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans  # never two at once
    assert not store.exists("lease.json")  # released


def test_a_waiter_fails_naming_the_holder_and_a_dead_holder_expires(store):
    with lease(store, "lease.json", owner="a render by ann", what="this result folder"):
        with pytest.raises(LeaseHeldError) as e:
            with lease(store, "lease.json", owner="bob", what="this result folder", wait_s=0.3):
                pass
    assert "this result folder is in use by a render by ann" in str(e.value) and "waited 0.3 s" in str(e.value)
    # a holder that died without releasing: its lease expired a minute ago, the next writer takes it over
    store.put_bytes("lease.json", json.dumps({"owner": "dead", "expires_at": time.time() - 60}).encode())
    t0 = time.monotonic()
    with lease(store, "lease.json", owner="carl", what="x", wait_s=5) as held:
        assert json.loads(store.get_bytes("lease.json"))["owner"] == "carl"
        held.check()
    assert time.monotonic() - t0 < 3
