"""API keys looked up once per web process, refused in every process as soon as they are revoked.

Checking a key in the database costs a query (and, for an async view, a hop to a thread) on every API
request. So each web process keeps the keys it has checked, by their SHA-256 (as the database does:
never the key itself), with their owner.

Revocation stays immediate through one counter in the shared cache (Django's cache: Redis with
REDIS_URL, shared by every web process), the key generation. Whatever can make a key invalid —
revoking or deleting a key, saving or deleting a user (deactivated, password changed) — bumps it
(apikeys/signals.py); every request reads it, and a process trusts its cached keys only while the
generation is the one they were checked under. A bump therefore empties every process's cache at its
next request. The generation is read before the database is, so a key checked while a revocation
commits is cached under a generation the commit's own bump has already left behind.

Without Redis the counter lives in this process's memory: right for one web process (the embedded
engine's deployment, where the Playground's revocations run in that process), not for several, so the
cache is off by default with the Ray engine and no REDIS_URL (TIGER_KEY_CACHE). A change made by another
process on the machine (manage.py shell) then reaches this one within TIGER_KEY_CACHE_SECONDS, the
longest any entry is trusted.
"""
from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from tigercity import cache as shared_cache

GENERATION_KEY = "apikeys:generation"
MAX_ENTRIES = 10_000  # keys of distinct callers a process remembers (least recently used dropped)


@dataclass(frozen=True)
class _Entry:
    api_key: object  # an ApiKey with its owner loaded; handed out as copies only
    generation: int
    checked_at: float  # time.monotonic()


def enabled() -> bool:
    return settings.TIGER["KEY_CACHE"]


def generation(cache=None) -> int:
    """The current key generation (set to a random start when absent: a fresh Redis, an eviction), so
    that entries cached under an older value can never match it by chance)."""
    cache = cache or shared_cache.shared()
    value = cache.get(GENERATION_KEY)
    if not isinstance(value, int):
        cache.add(GENERATION_KEY, secrets.randbits(62), timeout=None)
        value = cache.get(GENERATION_KEY)
    return value


def bump(cache=None) -> None:
    cache = cache or shared_cache.shared()
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # absent: any fresh random start differs from what entries hold
        cache.set(GENERATION_KEY, secrets.randbits(62), timeout=None)


def keys_changed() -> None:
    """A key or a user changed: every process looks keys up again. Bumped now (so that this very
    transaction's later requests miss) and again once it commits (a process that read the database
    between the two cached the old row under the first bump's value)."""
    bump()
    transaction.on_commit(bump, robust=True)


class KeyCache:
    """This process's checked keys. Thread-safe: read from the event loop and from worker threads."""

    def __init__(self, cache=None, max_entries: int = MAX_ENTRIES):
        self._cache = cache  # None: the deployment's shared cache (looked up per call: tests change it)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    @property
    def cache(self):
        return self._cache or shared_cache.shared()

    def generation(self) -> int:
        return generation(self.cache)

    def get(self, digest: str, current: int):
        """A copy of the key cached under `digest` (its owner a copy too) if it was checked under
        generation `current` and recently enough; else None."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry.generation != current or time.monotonic() - entry.checked_at > settings.TIGER["KEY_CACHE_SECONDS"]:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
        return _copy(entry.api_key)

    def put(self, digest: str, api_key, checked_under: int) -> None:
        """Remember `api_key` (active, its owner active), read from the database after generation
        `checked_under` was read."""
        entry = _Entry(_copy(api_key), checked_under, time.monotonic())
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _copy(api_key):
    """Requests never share model instances: a view may change or save the one it was given."""
    owner = copy.copy(api_key.owner)
    out = copy.copy(api_key)
    out.owner = owner
    return out


process_cache = KeyCache()
