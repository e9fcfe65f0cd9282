"""The only bridge from Django to the engine: `get_runtime()`.

Every runtime implements runtime_interface.RuntimeInterface: start a generation and read its events
(a stream.GenerationStream, which also cancels it), train, create an adapter directory, report status,
count a prompt's tokens, and for dataset jobs: count a dataset's tokens, start a fine-tuning job (`finetune(request, on_event)`
-> a concurrent Future, progress pushed to `on_event` from any thread) and cancel it. Those are
synchronous: the job runner calls them from its own thread (inference/finetune_runner.py).
The embedded runtime drives an engine beside this server; the Ray runtime (inference/serve) sends the
same requests to the replicas of a Ray Serve application. The web side never touches torch directly.
"""
from __future__ import annotations

import asyncio
import threading

from django.conf import settings

from inference.engine.interface import EngineInterface
from inference.engine.types import FineTuneRequest, GenerationRequest, LoraSpec, TrainingRequest, TrainingResult
from inference.engine_factory import build_engine
from inference.runtime_interface import RuntimeInterface
from inference.stream import GenerationStream
from tigercity.errors import Unavailable


class EmbeddedRuntime:
    """Runs the engine beside this server, in a child process it starts on first use and owns."""

    name = "embedded"

    def __init__(self):
        self._engine: EngineInterface | None = None
        self._lock = threading.Lock()

    def engine(self) -> EngineInterface:
        with self._lock:
            if self._engine is None:
                self._engine = build_engine()
            return self._engine

    async def start_generation(self, request: GenerationRequest) -> GenerationStream:
        """Submit; engine errors (context too long, queue full) raise here, before anything streams.

        The engine's answer is awaited on this loop (submit_nowait's future, settled by the thread that
        reads the engine's pipe), not by a thread of its own: no hop to a thread and back per request."""
        engine = self._engine or await asyncio.to_thread(self.engine)  # built once, on first use
        request_id = request.request_id
        stream = GenerationStream(request_id, asyncio.get_running_loop(), cancel=lambda: engine.cancel(request_id))
        accepted = engine.submit_nowait(request, stream.push)
        try:
            # shielded: a caller that goes away must not cancel the future the engine's reply settles
            await asyncio.shield(asyncio.wrap_future(accepted))
        except asyncio.CancelledError:
            # nobody will close this stream: stop the generation once (if) the engine took it
            accepted.add_done_callback(lambda f: f.cancelled() or f.exception() or engine.cancel(request_id))
            raise
        return stream

    async def train(self, request: TrainingRequest) -> TrainingResult:
        engine = await asyncio.to_thread(self.engine)
        return await asyncio.wrap_future(engine.train(request))

    async def create_adapter(self, *, base: str, spec: LoraSpec, dest_path: str) -> None:
        engine = await asyncio.to_thread(self.engine)
        await asyncio.to_thread(engine.create_adapter, base, spec, dest_path)

    def dataset_tokens(self, base: str, examples) -> list[int]:
        """Tokens of each example with `base`'s tokenizer and chat template (blocking)."""
        return self.engine().dataset_tokens(base, examples)

    def context_length(self, base: str) -> int:
        return self.engine().context_length(base)

    def count_prompt_tokens(self, base: str, messages: list[dict]) -> int:
        return self.engine().count_prompt_tokens(base, messages)

    def finetune(self, request: FineTuneRequest, on_event):
        """Queue a job on its base's engine; a concurrent Future of its FineTuneResult (blocking call)."""
        return self.engine().finetune(request, on_event)

    def cancel_finetune(self, job_id: str) -> bool:
        engine = self._engine
        return engine is not None and engine.cancel_finetune(job_id)

    def status(self) -> dict:
        engine = self._engine
        if engine is None:
            return {"backend": self.name, "ready": True, "loaded": [], "running": 0, "failed": {}}
        loaded = [base for base in engine.bases if engine.is_ready(base)]
        stats = {base: engine.stats(base) for base in engine.bases}
        running = sum(s.get("open_requests", 0) for s in stats.values())
        # A base whose weights failed to load stays failed until a restart: say so (health is public: the
        # error itself, with the server's paths, is in the server log).
        failed = {base: "its weights failed to load; the server log says why"
                  for base, s in stats.items() if s.get("load_error")}
        return {"backend": self.name, "ready": True, "loaded": loaded, "running": running, "failed": failed}

    def shutdown(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.shutdown()
                self._engine = None


class DisabledRuntime:
    """TIGER_ENGINE=off: the catalog works, generation and training answer 503."""

    name = "off"

    async def start_generation(self, request: GenerationRequest) -> GenerationStream:
        raise self._refusal()

    async def train(self, request: TrainingRequest) -> TrainingResult:
        raise self._refusal()

    async def create_adapter(self, *, base: str, spec: LoraSpec, dest_path: str) -> None:
        raise self._refusal()

    def dataset_tokens(self, base: str, examples) -> list[int]:
        raise self._refusal()

    def context_length(self, base: str) -> int:
        raise self._refusal()

    def count_prompt_tokens(self, base: str, messages: list[dict]) -> int:
        raise self._refusal()

    def finetune(self, request: FineTuneRequest, on_event):
        raise self._refusal()

    def cancel_finetune(self, job_id: str) -> bool:
        return False

    def status(self) -> dict:
        return {"backend": self.name, "ready": False}

    def shutdown(self) -> None:
        """Nothing runs, so nothing stops."""

    @staticmethod
    def _refusal() -> Unavailable:
        return Unavailable("This server runs without an inference engine (TIGER_ENGINE=off).", code="engine_off")


_runtime: RuntimeInterface | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> RuntimeInterface:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            kind = settings.TIGER["ENGINE"]
            if kind == "embedded":
                _runtime = EmbeddedRuntime()
            elif kind == "off":
                _runtime = DisabledRuntime()
            elif kind == "ray":
                from inference.serve.runtime import RayRuntime

                _runtime = RayRuntime()
            else:
                raise Unavailable(f"Unknown TIGER_ENGINE {kind!r}: use embedded, ray or off.")
        return _runtime


def status() -> dict:
    return get_runtime().status()
