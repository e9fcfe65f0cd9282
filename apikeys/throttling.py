"""The API rate limit (TIGER_RATE_LIMIT, e.g. "600/min"): DRF's sliding-window throttle, per user, all of
its API keys together (keys are cheap to make: a budget per key would multiply with them).

The history lives in Django's cache: per process by default, shared through Redis when REDIS_URL is set.
"""
from rest_framework.throttling import SimpleRateThrottle

from apikeys.models import ApiKey
from tigercity import cache as shared_cache


class KeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    @property
    def cache(self):
        return shared_cache.shared()  # one Redis connection pool per process, not one per request

    def get_cache_key(self, request, view):
        """Requests made with a key are throttled per user (the key's owner); anything else is not this
        throttle's business."""
        api_key = getattr(request, "auth", None)
        if not isinstance(api_key, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"user-{api_key.owner_id}"}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        history = self.cache.get(self.key, [])
        # A value that is not a list of times (planted, or from an older format) counts as no history.
        if not isinstance(history, list) or not all(isinstance(t, (int, float)) for t in history):
            history = []
        self.history = history
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()


def check_rate(request) -> float | None:
    """None if `request` may go on, else the seconds to wait (for views outside DRF)."""
    throttle = KeyRateThrottle()
    if throttle.rate is None or throttle.allow_request(request, None):
        return None
    return throttle.wait() or 1.0
