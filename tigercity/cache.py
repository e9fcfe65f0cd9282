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
