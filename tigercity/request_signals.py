"""request_started and request_finished for an API request, without a thread hop each when they would
do nothing there.

Django sends both through sync_to_async: every receiver it connects is synchronous, so each signal is a
hop to the request's thread and back (two per request, 0.3-1 ms each on a loaded 2-core machine). What
those receivers do is tied to where they run:

- reset_queries and close_old_connections (both signals) act on the database connections of the thread
  that runs them, and a request's database work happens on its own thread (the ORM refuses the event
  loop; sync_to_async and the async ORM run it on the request's thread-sensitive executor). Run on that
  thread before its first task of the request, they have the same effect as at the request's start; and
  when the request ran nothing on that thread, its connections are as the end of an earlier request left
  them (closed then, or a persistent one checked again before the next use), so there is nothing to do.
- close_caches and reset_urlconf act on the request's context (asgiref Local), not on a thread, and run
  inline.

Any other receiver (a project's own, an async one) and the usual hops come back: Django's own path.
"""
from concurrent.futures import ThreadPoolExecutor

from django.core import signals
from django.core.cache import close_caches
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, reset_queries

THREAD_BOUND = {reset_queries, close_old_connections}
CONTEXT_BOUND = {close_caches, reset_urlconf}


def _receivers(signal, sender) -> tuple[list, list]:
    sync, asynchronous = signal._live_receivers(sender)
    return list(sync), list(asynchronous)


def deferrable_start(sender) -> bool:
    """request_started can wait for the request thread's first task (every receiver is thread-bound)."""
    sync, asynchronous = _receivers(signals.request_started, sender)
    return not asynchronous and set(sync) <= THREAD_BOUND


def inline_finish(sender):
    """For a request that ran nothing on its thread: a callable that sends request_finished on the event
    loop less its thread-bound receivers, or None when a receiver of another kind is connected."""
    sync, asynchronous = _receivers(signals.request_finished, sender)
    if asynchronous or not set(sync) <= THREAD_BOUND | CONTEXT_BOUND:
        return None

    def send():
        for receiver in sync:
            if receiver in CONTEXT_BOUND:
                receiver(signal=signals.request_finished, sender=sender)

    return send


class RequestExecutor(ThreadPoolExecutor):
    """A request's one thread: runs the request's deferred start (request_started's receivers) before its
    first task of the request, and notes whether the request ran anything on it."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="api-request")
        self.on_first_task = None
        self.used = False

    def lend(self, on_first_task=None) -> None:
        self.on_first_task, self.used = on_first_task, False

    def submit(self, fn, /, *args, **kwargs):
        self.used = True
        first, self.on_first_task = self.on_first_task, None
        if first is None:
            return super().submit(fn, *args, **kwargs)

        def after_start():
            first()
            return fn(*args, **kwargs)

        return super().submit(after_start)
