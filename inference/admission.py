"""How many generations one user may run at once (TIGER_MAX_CONCURRENT_GENERATIONS).

Counted in this web process: with several web processes the limit applies to each. A generation
holds its slot until its reader closes it (stream.GenerationStream.close), whether it finished, failed
or was cancelled.
"""
import threading
from collections import Counter
from collections.abc import Callable

from django.conf import settings

from tigercity.errors import RateLimited

_running: Counter = Counter()
_lock = threading.Lock()


def acquire_slot(user_id: int) -> Callable[[], None]:
    """Take one of the user's slots, or raise 429; returns the function that gives it back (once)."""
    limit = settings.TIGER["MAX_CONCURRENT_GENERATIONS"]
    with _lock:
        if _running[user_id] >= limit:
            raise RateLimited(
                f"You already run {_running[user_id]} generations at once (the limit is {limit}); "
                "wait for one to finish.",
                code="too_many_concurrent_generations", headers={"Retry-After": "1"},
            )
        _running[user_id] += 1
    released = False

    def release() -> None:
        nonlocal released
        with _lock:
            if not released:
                released = True
                _running[user_id] -= 1
                if _running[user_id] <= 0:
                    del _running[user_id]

    return release


def running(user_id: int) -> int:
    with _lock:
        return _running[user_id]
