"""API keys looked up once per web process, refused in every process as soon as they are revoked.

Checking a key in the database costs a query (and, for an async view, a hop to a thread) on every API
request. So each web process keeps the keys it has checked, by their SHA-256 (as the database does:
never the key itself), with their owner.

Revocation stays immediate through one counter in the shared cache (Django's cache: Redis with
REDIS_URL, shared by every web process), the key generation (tigercity/generations.py). Whatever can
make a key invalid — revoking or deleting a key, saving or deleting a user (deactivated, password
changed) — bumps it (apikeys/signals.py); every request reads it, and a process trusts its cached keys
only while the generation is the one they were checked under. A bump therefore empties every
process's cache at its next request.

Without Redis the counter lives in this process's memory: right for one web process (the embedded
engine's deployment, where the Playground's revocations run in that process), not for several, so the
cache is off by default with the Ray engine and no REDIS_URL (TIGER_KEY_CACHE). A change made by another
process on the machine (manage.py shell) then reaches this one within TIGER_KEY_CACHE_SECONDS, the
longest any entry is trusted.
"""
from __future__ import annotations

import copy

from django.conf import settings

from tigercity import cache as shared_cache
from tigercity import generations

GENERATION_KEY = "apikeys:generation"
MAX_ENTRIES = 10_000  # keys of distinct callers a process remembers (least recently used dropped)


def enabled() -> bool:
    return settings.TIGER["KEY_CACHE"]


def generation(cache=None) -> int:
    return generations.current(GENERATION_KEY, cache)


def bump(cache=None) -> None:
    generations.bump(GENERATION_KEY, cache)


def keys_changed() -> None:
    """A key or a user changed: every process looks keys up again (tigercity/generations.py)."""
    generations.changed(GENERATION_KEY)


def keys_changing() -> None:
    """A key or a user is about to change: raises, before the write, if the shared cache cannot be bumped."""
    bump()


class KeyCache(generations.ProcessCache):
    """This process's checked keys: ApiKey objects with their owner, by SHA-256."""

    def __init__(self, cache=None, max_entries: int = MAX_ENTRIES):
        super().__init__(max_age=lambda: settings.TIGER["KEY_CACHE_SECONDS"], copy=_copy, max_entries=max_entries)
        self._cache = cache  # None: the deployment's shared cache (looked up per call: tests change it)

    @property
    def cache(self):
        return self._cache or shared_cache.shared()

    def generation(self) -> int:
        return generation(self.cache)


def _copy(api_key):
    """Requests never share model instances: a view may change or save the one it was given."""
    owner = copy.copy(api_key.owner)
    out = copy.copy(api_key)
    out.owner = owner
    return out


process_cache = KeyCache()
