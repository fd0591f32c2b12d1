"""A lease object in the store: one writer at a time for a prefix, across processes and machines.

Taking the lease is one conditional put (``If-None-Match: *``): the store itself decides who got it,
so it holds whichever machine the writers run on. The holder renews it every third of its time to
live with ``If-Match`` on the etag it wrote; a holder that died leaves a lease that expires, and the
next writer takes it over, again with ``If-Match``, so two waiters cannot both take one stale lease.
A holder whose renewal finds someone else's lease has lost it, and :meth:`Lease.check` says so
before it publishes anything. Releasing deletes the object only while it is still this holder's.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from signbridge.errors import SignBridgeError, StorageError

log = logging.getLogger(__name__)

SKEW_S = 5.0  # a lease counts as expired only this long after its holder's clock said it would


class LeaseHeldError(SignBridgeError):
    """Another writer holds the lease and did not finish within the wait."""

    permanent = False


class Lease:
    def __init__(self, store, key: str, owner: str, ttl_s: float):
        self.store, self.key, self.owner, self.ttl_s = store, key, owner, float(ttl_s)
        self.token = uuid.uuid4().hex
        self.etag: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _doc(self) -> bytes:
        return json.dumps({"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(),
                           "token": self.token, "expires_at": time.time() + self.ttl_s}).encode()

    def try_take(self) -> dict | None:
        """Take the lease if it is free or expired; None when taken, else the holder's record."""
        etag = self.store.put_bytes_if(self.key, self._doc(), "application/json")
        if etag:
            self.etag = etag
            return None
        cur = self.store.get_versioned(self.key)
        if cur is None:
            return {"owner": "?", "expires_at": time.time()}  # released meanwhile: try again
        raw, cur_etag = cur
        try:
            held = json.loads(raw)
        except ValueError:
            held = {"owner": "unreadable lease", "expires_at": 0}
        if float(held.get("expires_at") or 0) + SKEW_S < time.time():
            etag = self.store.put_bytes_if(self.key, self._doc(), "application/json", if_match=cur_etag)
            if etag:
                log.warning("%s: took over a lease of %s that expired", self.store.uri(self.key), held.get("owner"))
                self.etag = etag
                return None
        return held

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                etag = self.store.put_bytes_if(self.key, self._doc(), "application/json", if_match=self.etag)
            except StorageError as e:  # the store is away: keep trying until the lease would expire
                log.warning("renewing %s: %s", self.store.uri(self.key), e)
                continue
            if etag is None:
                self.lost = "another writer took the lease (it expired while the store or this process stalled)"
                return
            self.etag = etag

    def check(self) -> None:
        """Raise if the lease was lost: the caller must not publish."""
        if self.lost:
            raise SignBridgeError(f"the lease on {self.store.uri(self.key)} was lost: {self.lost}; nothing published",
                                  hint="run the command again", permanent=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renew", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.etag and not self.lost:
            try:
                self.store.delete_if(self.key, self.etag)
            except StorageError as e:  # it expires by itself
                log.warning("releasing %s: %s", self.store.uri(self.key), e)


@contextmanager
def lease(store, key: str, *, owner: str, what: str, ttl_s: float = 60.0, wait_s: float = 120.0,
          poll_s: float = 0.5) -> Iterator[Lease]:
    """Hold the lease ``key`` of ``store`` while the block runs; wait up to ``wait_s`` for another holder,
    then fail with :class:`LeaseHeldError` naming who holds it."""
    held = Lease(store, key, owner, ttl_s)
    deadline = time.monotonic() + max(0.0, wait_s)
    said = False
    while True:
        holder = held.try_take()
        if holder is None:
            break
        if time.monotonic() >= deadline:
            left = max(0, round(float(holder.get("expires_at") or 0) + SKEW_S - time.time()))
            raise LeaseHeldError(f"{what} is in use by {holder.get('owner')} (host {holder.get('host', '?')}, "
                                 f"pid {holder.get('pid', '?')}); waited {wait_s:g} s", source=store.uri(key),
                                 hint=f"try again when it has finished; a holder that died frees it within {left} s")
        if not said:
            log.warning("%s is in use by %s; waiting up to %g s", what, holder.get("owner"), wait_s)
            said = True
        time.sleep(poll_s)
    held.start()
    try:
        yield held
    finally:
        held.release()
