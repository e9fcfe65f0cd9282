"""GenerationStream: the events of one running generation, as a runtime hands them to Django code.

A leaf module (it imports only the engine's plain types), so that every runtime can build one
without importing another runtime.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from inference.engine.types import TERMINAL_KINDS, Event
from tigercity.failpoints import hold, taken

HOLD_POINT = "stream_hold_after_first_token"  # tests: the reader gets one token, then waits to be cancelled
RELEASE_POINT = "stream_release_hold"  # ... or released: the rest of the answer follows


class GenerationStream:
    """Events pushed from any thread, read by one coroutine.

    `cancel` is how the runtime that started the generation stops it (the engine's cancel, a message
    to a worker, ...); it is given at construction and called at most once."""

    def __init__(self, request_id: str, loop: asyncio.AbstractEventLoop, cancel: Callable[[], None]):
        self.request_id = request_id
        self.loop = loop
        self._queue: asyncio.Queue = asyncio.Queue()
        self._cancel = cancel
        self._on_close: list[Callable[[], None]] = []
        self.finished = False
        self.handed_over = False

    def push(self, event: Event) -> None:
        """Thread-safe: called by the engine (or a runtime's relay) for every event."""
        self.loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def __aiter__(self) -> AsyncIterator[Event]:
        first_text = True
        while not self.finished:
            event = await self._queue.get()
            if event.kind in TERMINAL_KINDS:
                self.finished = True
            held = first_text and event.kind == "delta" and bool(event.text) and taken(HOLD_POINT)
            first_text = first_text and not (event.kind == "delta" and event.text)
            yield event
            if held:
                await hold(release=RELEASE_POINT)

    def cancel(self) -> None:
        """Stop generating (a client went away); harmless once finished."""
        if not self.finished:
            self.finished = True
            self._cancel()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` once, when the reader closes this stream (see close)."""
        self._on_close.append(callback)

    def hand_over(self) -> "GenerationStream":
        """Whoever calls this closes the stream from now on (generation.generation_started then leaves
        it open)."""
        self.handed_over = True
        return self

    def close(self) -> None:
        """The reader is done with it, finished or not (call it in a `finally`): cancels what is
        still running and releases what was held for it."""
        self.cancel()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()
