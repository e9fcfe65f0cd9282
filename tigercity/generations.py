"""Rows kept per web process, made stale at once in every process by a counter in the shared cache.

A *generation* is an integer under a name in Django's cache (Redis with REDIS_URL, shared by every web
process; JSON like every value there). Whatever changes the rows a process keeps copies of bumps it;
a request reads it, and a ProcessCache entry is trusted only if it was stored under that same value. So
the request after a change misses in every process and reads the database again.

Races: read the generation *before* the database, and bump after the change and again once its
transaction commits (`changed`, from post_save/post_delete): a process that read the row before the
commit stored it under a value the commit's bump has already left behind (in autocommit, the write has
committed when post_save runs). A bump before the write too (`bump`, from pre_save/pre_delete) fails
closed: a shared cache that cannot be reached raises before the database changes, so no change (a
revocation) is written that other processes would miss once Redis answers again. A missing counter (a
fresh or flushed Redis, an eviction) restarts at a random 62-bit value, so no stored entry can match it
by chance.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from tigercity import cache as shared_cache

try:
    from redis.exceptions import ResponseError as _NotACounter  # INCR on a value that is not an integer
except ImportError:  # no Redis client: a local-memory cache raises TypeError instead
    class _NotACounter(Exception):
        pass


def current(name: str, cache=None) -> int:
    cache = cache or shared_cache.shared()
    value = cache.get(name)
    if not isinstance(value, int):
        cache.add(name, secrets.randbits(62), timeout=None)
        value = cache.get(name)
    if not isinstance(value, int):  # something that is not a counter sits there: INCR would fail on it
        value = secrets.randbits(62)
        cache.set(name, value, timeout=None)
    return value


def bump(name: str, cache=None) -> None:
    cache = cache or shared_cache.shared()
    try:
        cache.incr(name)
    except (ValueError, TypeError, _NotACounter):  # absent, or not a counter: any fresh random start
        cache.set(name, secrets.randbits(62), timeout=None)  # differs from what entries hold


def changed(name: str) -> None:
    """Rows under `name` changed: bumped now, and again when the current transaction commits."""
    bump(name)
    transaction.on_commit(lambda: bump(name), robust=True)


@dataclass(frozen=True)
class _Entry:
    value: object
    generation: int
    stored_at: float  # time.monotonic()


class ProcessCache:
    """A web process's copies of some rows, each trusted while its generation is current and for at
    most `max_age()` seconds. Thread-safe (read from the event loop and from worker threads); values
    are stored and handed out through `copy`, so that no two requests share a model instance."""

    def __init__(self, *, max_age: Callable[[], float], copy: Callable, max_entries: int = 10_000):
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._max_age = max_age
        self._copy = copy
        self.max_entries = max_entries

    def get(self, key, generation: int):
        """A copy of the value stored under `key`, or None (never stored, stale, or too old)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.generation != generation or time.monotonic() - entry.stored_at > self._max_age():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        return self._copy(entry.value)

    def put(self, key, value, generation: int) -> None:
        """Store `value`, read from the database after `generation` was read."""
        entry = _Entry(self._copy(value), generation, time.monotonic())
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
