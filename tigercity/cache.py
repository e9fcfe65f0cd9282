"""Django's cache, configured so that what is stored in it can never run code.

Django's Redis cache pickles values, and unpickling runs whatever the bytes say: anyone able to write to
the Redis would run code in every web process that reads a rate-limit history. Values here are JSON
(rate-limit histories, counters): reading a crafted value yields data or nothing, never a call.
"""
import json
import logging

log = logging.getLogger(__name__)


class JSONSerializer:
    """The `serializer` of django.core.cache.backends.redis.RedisCache: JSON instead of pickle.

    Integers stay plain integers, as with Django's own serializer, so that Redis INCR works on them."""

    def dumps(self, obj):
        if type(obj) is int:
            return obj
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data):
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except (ValueError, RecursionError):  # not ours (or tampered with): treat as absent rather than fail every request
            log.warning("ignored a cache value that is not JSON")
            return None


def cache_settings(redis_url: str | None, namespace: str) -> dict:
    """CACHES for this deployment: shared through Redis when there is one, values as JSON, and every key
    under the deployment's namespace (two deployments on one Redis keep their own rate-limit buckets)."""
    if redis_url:
        default = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url,
                   "OPTIONS": {"serializer": "tigercity.cache.JSONSerializer"}}
    else:
        default = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    return {"default": {**default, "KEY_PREFIX": namespace}}


_shared = None


def shared():
    """One instance of the default cache for the whole process, used from any thread.

    Django's `cache` makes a backend per request context, and a Redis backend opens its connection pool
    per instance: each API request would connect to Redis anew. redis-py's pool is thread-safe, and
    local-memory caches of one name share their storage, so one instance serves every request."""
    global _shared
    if _shared is None:
        from django.core.cache import caches

        _shared = caches.create_connection("default")
    return _shared


def in_process(cache) -> bool:
    """True when reading `cache` is a dictionary look-up in this process (no I/O): then the event loop may
    read it itself instead of handing the read to a thread."""
    from django.core.cache.backends.locmem import LocMemCache

    return isinstance(cache, LocMemCache)


def _forget_shared(*, setting, **kwargs):
    global _shared
    if setting == "CACHES":
        _shared = None


def _connect_setting_changed():
    from django.core.signals import setting_changed

    setting_changed.connect(_forget_shared, dispatch_uid="tigercity.cache.shared")


_connect_setting_changed()
