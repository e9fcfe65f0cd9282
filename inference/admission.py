"""How many generations one user may run at once (TIGER_MAX_CONCURRENT_GENERATIONS).

A running-at-once cap like the others (tigercity/quotas.py: the 429 error object with the cap's name and
value, code too_many_concurrent_generations, Retry-After), counted in this web process: with several
web processes the limit applies to each. A generation holds its slot until its reader closes it
(stream.GenerationStream.close), whether it finished, failed or was cancelled.
"""
from collections.abc import Callable

from tigercity import quotas


def acquire_slot(user_id: int) -> Callable[[], None]:
    """Take one of the user's slots, or raise 429; returns the function that gives it back (once)."""
    return quotas.GENERATIONS.acquire(user_id)


def running(user_id: int) -> int:
    return quotas.GENERATIONS.in_use(user_id)
