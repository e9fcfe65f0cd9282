"""The only bridge from Django to the engine.

Django code calls `get_runtime()` and uses four operations: start a generation and iterate its events,
cancel it, train, and create an adapter directory. The in-process implementation drives an Engine on
its own thread inside this process; the channel-layer implementation (inference/workers) sends the same
requests to worker processes. The web side never touches torch directly.
"""
from __future__ import annotations

import asyncio
import threading
from typing import AsyncIterator, Callable

from django.conf import settings

from inference.catalog import base_models
from inference.engine.types import GenerationRequest, LoraSpec, TrainingRequest, TrainingResult
from tigercity.errors import Unavailable

TERMINAL = ("done", "failed")


_engines_built = 0


def build_engine(bases: list[str] | None = None):
    """The engine for the configured base models (all, or those named in `bases`), configured from
    settings.TIGER. The one place an engine is built: the embedded runtime and `manage.py runengine`.

    It runs in a child process (inference/engine/process.py), so that its decode loop never waits
    for the GIL while this process's event loop writes tokens to sockets; with TIGER_ENGINE_PROCESS=0,
    on threads of this process."""
    global _engines_built
    from inference.engine.config import EngineConfig

    if settings.TIGER["ENGINE_PROCESS"]:
        from inference.engine.process import EngineProcess as Engine
    else:
        from inference.engine.serving.engine import Engine

    catalog = {m.name: m.checkpoint for m in base_models()}
    _engines_built += 1
    return Engine(
        bases={name: catalog[name] for name in (catalog if bases is None else bases)},
        config=EngineConfig(
            adapter_cache_size=settings.TIGER["ADAPTER_CACHE_SIZE"],
            max_batch_size=settings.TIGER["MAX_BATCH_SIZE"],
            max_queue=settings.TIGER["MAX_QUEUE"],
            cpu_threads=cpu_threads(),
        ),
    )


def cpu_threads() -> int | None:
    """Torch threads when serving on a CPU: TIGER_CPU_THREADS, else 1 while every base runs demo
    weights (a few-MB model is fastest on one thread; more threads only fight over the cores),
    else torch's default."""
    if settings.TIGER["CPU_THREADS"]:
        return settings.TIGER["CPU_THREADS"]
    return 1 if all(m.is_demo for m in base_models()) else None


def engines_built() -> int:
    """How many engines this process has built (the web tier of a scale-out deployment: none)."""
    return _engines_built


class Generation:
    """The events of one generation: pushed from any thread, read by one coroutine."""

    def __init__(self, request_id: str, loop: asyncio.AbstractEventLoop):
        self.request_id = request_id
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue()
        self._cancel: Callable[[], None] | None = None
        self._on_close: list[Callable[[], None]] = []
        self.finished = False

    def push(self, event) -> None:
        """Thread-safe: called by the engine (or a channel-layer receiver) for every event."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def __aiter__(self) -> AsyncIterator:
        while not self.finished:
            event = await self._queue.get()
            if event.kind in TERMINAL:
                self.finished = True
            yield event

    def cancel(self) -> None:
        """Stop generating (a client went away); harmless once finished."""
        if not self.finished and self._cancel is not None:
            self.finished = True
            self._cancel()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` once, when the reader closes this generation (see close)."""
        self._on_close.append(callback)

    def close(self) -> None:
        """The reader is done with it, finished or not (call it in a `finally`): cancels what is
        still running and releases what was held for it."""
        self.cancel()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()


class EmbeddedRuntime:
    """Runs the engine beside this server, in a child process it starts on first use and owns."""

    name = "embedded"

    def __init__(self):
        self._engine = None
        self._lock = threading.Lock()

    def engine(self):
        with self._lock:
            if self._engine is None:
                self._engine = build_engine()
            return self._engine

    async def start_generation(self, request: GenerationRequest) -> Generation:
        """Submit; engine errors (context too long, queue full) raise here, before anything streams."""
        generation = Generation(request.request_id, asyncio.get_running_loop())

        def submit():
            engine = self.engine()
            engine.submit(request, generation.push)
            return engine

        engine = await asyncio.to_thread(submit)
        generation._cancel = lambda: engine.cancel(request.request_id)
        return generation

    async def train(self, request: TrainingRequest) -> TrainingResult:
        engine = await asyncio.to_thread(self.engine)
        return await asyncio.wrap_future(engine.train(request))

    async def create_adapter(self, *, base: str, spec: LoraSpec, dest_path: str) -> None:
        engine = await asyncio.to_thread(self.engine)
        await asyncio.to_thread(engine.create_adapter, base, spec, dest_path)

    def status(self) -> dict:
        engine = self._engine
        if engine is None:
            return {"backend": self.name, "ready": True, "loaded": [], "running": 0}
        loaded = [base for base in engine.bases if engine.is_ready(base)]
        running = sum(engine.stats(base).get("open_requests", 0) for base in engine.bases)
        return {"backend": self.name, "ready": True, "loaded": loaded, "running": running}

    def shutdown(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.shutdown()
                self._engine = None


class DisabledRuntime:
    """TIGER_ENGINE=off: the catalog works, generation and training answer 503."""

    name = "off"

    def _refuse(self, *args, **kwargs):
        raise Unavailable("This server runs without an inference engine (TIGER_ENGINE=off).", code="engine_off")

    start_generation = train = create_adapter = _refuse

    def status(self) -> dict:
        return {"backend": self.name, "ready": False}


_runtime = None
_runtime_lock = threading.Lock()


def get_runtime():
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            kind = settings.TIGER["ENGINE"]
            if kind == "embedded":
                _runtime = EmbeddedRuntime()
            elif kind == "off":
                _runtime = DisabledRuntime()
            elif kind == "workers":
                from inference.workers.client import WorkerRuntime

                _runtime = WorkerRuntime()
            else:
                raise Unavailable(f"Unknown TIGER_ENGINE {kind!r}: use embedded, workers or off.")
        return _runtime


def status() -> dict:
    return get_runtime().status()
