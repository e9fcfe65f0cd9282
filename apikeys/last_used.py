"""When each API key was last used, written off the request path.

A request only notes the time in memory; a writer thread of the process writes what was noted. A key is
noted at most once per PRECISION per process (the key list shows minutes), so the database sees one
small UPDATE per key per minute at most, and never from a request.

Nothing is written when the process exits: a stopping server loses at most the last minute of its keys'
uses, and an exit hook would touch the database wherever the process ends (a test run included).
In tests the writer thread does not run (tests/conftest.py): a test that checks last_used_at calls
flush() itself.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

PRECISION = 60.0  # seconds
RETRY_S = 1.0


class LastUsed:
    def __init__(self, precision: float = PRECISION):
        self.precision = precision
        self.background = True  # a writer thread writes what is noted; False: only flush() writes
        self._lock = threading.Lock()
        self._pending: dict[int, datetime] = {}
        self._noted: dict[int, float] = {}  # key id -> time.monotonic() of its last note
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def note(self, key_id: int) -> None:
        """Key `key_id` was just used (cheap: the request never waits for the database)."""
        now = time.monotonic()
        with self._lock:
            last = self._noted.get(key_id)
            if last is not None and now - last < self.precision:
                return
            self._noted[key_id] = now
            self._pending[key_id] = timezone.now()
            if not self.background:
                return
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="api-key-last-used", daemon=True)
                self._thread.start()
        self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write what was noted (blocking); the number of keys written."""
        from apikeys.models import ApiKey

        with self._lock:
            pending, self._pending = self._pending, {}
            horizon = time.monotonic() - self.precision
            self._noted = {k: t for k, t in self._noted.items() if t > horizon}
        items = list(pending.items())
        for i, (key_id, when) in enumerate(items):
            try:
                # Never move it back: another process may have written a later use.
                ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=when), pk=key_id) \
                    .update(last_used_at=when)
            except BaseException:
                with self._lock:  # what was not written is written next time
                    for k, w in items[i:]:
                        self._pending.setdefault(k, w)
                raise
        return len(items)

    def forget(self) -> None:
        """Drop what was noted and not written (tests: nothing carries over to the next test)."""
        with self._lock:
            self._pending.clear()
            self._noted.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the writer thread after its current write (what is pending stays pending)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        retry = None  # after a failed write (a locked SQLite table, a database restarting), try again soon
        while True:
            self._wake.wait(retry)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.flush()
                retry = None
            except Exception:  # what was not written stays pending; a key list late is no reason to die
                log.exception("writing API keys' last use failed; retrying in %s s", RETRY_S)
                retry = RETRY_S
            finally:
                connection.close()  # this thread sleeps for minutes: hold no connection meanwhile


recorder = LastUsed()
