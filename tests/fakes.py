"""Stand-ins for the engine and for a runtime, without torch. tests/inference/test_interfaces.py checks
each against the interface it stands in for, so that a fake cannot drift from the real thing."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from inference.engine.errors import CheckpointError, ContextLengthExceeded, QueueFull, UnknownBaseModel
from inference.engine.types import (Done, Failed, Finished, FineTuneEvent, FineTuneResult, TextDelta,
                                    TrainingResult)
from inference.stream import GenerationStream

BASE = "Llama-3.1-8b"
CONTEXT = 256


class FakeEngine:
    """The Engine's methods, without torch; what it does is chosen by the last message's content:
    "too long" / "full" / "unknown" raise before streaming; "forever" streams until cancelled or shut
    down; "silent" says nothing at all; "slow N" waits N seconds, then answers; anything else streams
    its words. A training to revision 99 fails after it started; one to revision 50 takes 2.5 s."""

    def __init__(self, name: str = "engine"):
        self.name = name
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.trained: list[str] = []
        self.forgotten: list[str] = []
        self.finetuned: list[str] = []
        self._stopped = threading.Event()
        self._cancel_events: dict[str, threading.Event] = {}
        self._open: dict[str, object] = {}  # request id -> on_event, until its last event
        self._lock = threading.Lock()

    @property
    def bases(self) -> list[str]:
        return [BASE]

    def context_length(self, base: str) -> int:
        return CONTEXT

    def count_prompt_tokens(self, base: str, messages) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def dataset_tokens(self, base: str, examples) -> list[int]:
        return [10 for _ in examples]

    def start(self, base: str) -> None:
        """Nothing to load."""

    def is_ready(self, base: str) -> bool:
        return True

    def submit(self, req, on_event) -> None:
        text = req.messages[-1]["content"]
        if text == "too long":
            raise ContextLengthExceeded(300, CONTEXT)
        if text == "full":
            raise QueueFull(7, 7)
        if text == "unknown":
            raise UnknownBaseModel(f"Unknown base model {req.base!r}")
        self.submitted.append(req.request_id)
        cancel = self._cancel_events.setdefault(req.request_id, threading.Event())
        with self._lock:
            self._open[req.request_id] = on_event

        def emit(event) -> None:
            with self._lock:
                if req.request_id not in self._open:
                    return
                if event.kind in ("done", "failed"):
                    del self._open[req.request_id]
            on_event(event)

        threading.Thread(target=self._stream, args=(text, emit, cancel), daemon=True).start()

    def submit_nowait(self, req, on_event) -> Future:
        """submit's answer as a future (this engine decides at once)."""
        future: Future = Future()
        try:
            self.submit(req, on_event)
        except Exception as e:
            future.set_exception(e)
        else:
            future.set_result(None)
        return future

    def _stream(self, text: str, on_event, cancel: threading.Event) -> None:
        if text == "silent":
            return
        if text.startswith("slow "):
            time.sleep(float(text.split()[1]))
            text = "done"
        words = text.split()
        sent = 0
        while text == "forever" or sent < len(words):
            if cancel.wait(0.02 if text == "forever" else 0):
                on_event(Finished(0, "cancelled", sent))
                on_event(Done(3, sent))
                return
            if self._stopped.is_set():
                return
            on_event(TextDelta(0, ("" if sent == 0 else " ") + (words[sent] if text != "forever" else "la")))
            sent += 1
        on_event(Finished(0, "stop", sent))
        on_event(Done(3, sent))

    def cancel(self, request_id: str) -> None:
        self.cancelled.append(request_id)
        if request_id in self._cancel_events:
            self._cancel_events[request_id].set()

    def train(self, req) -> Future:
        self.trained.append(req.request_id)
        future: Future = Future()

        def run():
            time.sleep(2.5 if req.dest_revision == 50 else 0.05)
            if req.dest_revision == 99:
                future.set_exception(CheckpointError("the adapter does not fit the base"))
            else:
                future.set_result(TrainingResult(changed=True, reason="", loss=0.5, kl=0.01, reward_mean=0.5,
                                                 reward_std=0.5, clip_fraction=0.0, tokens=12, steps=2,
                                                 duration_ms=50))

        threading.Thread(target=run, daemon=True).start()
        return future

    def create_adapter(self, base, spec, dest_path, copy_from=None) -> None:
        Path(dest_path).mkdir(parents=True)
        (Path(dest_path) / "rank").write_text(str(spec.rank))

    def finetune(self, req, on_event) -> Future:
        """A job of one step that writes its revision's directory, unless cancelled first."""
        self.finetuned.append(req.job_id)
        future: Future = Future()
        on_event(FineTuneEvent(req.job_id, "message", "Fine-tuning job started", {}))
        Path(req.dest_path).mkdir(parents=True)
        future.set_result(FineTuneResult(steps=1, total_steps=1, trained_tokens=len(req.supervised_train),
                                         metrics={}, best_step=None, stopped_early=False, duration_ms=1))
        return future

    def cancel_finetune(self, job_id: str) -> bool:
        return False  # every job of this engine finishes within finetune()

    def forget_adapter(self, base: str, key: str) -> None:
        self.forgotten.append(key)

    def stats(self, base: str) -> dict:
        with self._lock:
            return {"open_requests": len(self._open)}

    def shutdown(self, timeout=None) -> None:
        """Like the Engine: whatever is still running gets Failed."""
        self._stopped.set()
        with self._lock:
            still_open, self._open = self._open, {}
        for on_event in still_open.values():
            on_event(Failed("The engine is shutting down", code="engine_unavailable"))


class FakeRuntime:
    """A runtime whose every training changes the weights and reports fixed metrics, and whose every
    generation answers "Hello!"; it records the trainings and generations it was asked for."""

    name = "fake"

    def __init__(self):
        self.trainings = []
        self.generations = []

    async def start_generation(self, request) -> GenerationStream:
        self.generations.append(request)
        stream = GenerationStream(request.request_id, asyncio.get_running_loop(), cancel=lambda: None)
        for index in range(request.params.n):
            stream.push(TextDelta(index, "Hello!"))
            stream.push(Finished(index, "stop", 2))
        stream.push(Done(3, 2 * request.params.n))
        return stream

    async def train(self, request) -> TrainingResult:
        self.trainings.append(request)
        return TrainingResult(changed=True, reason="", loss=0.25, kl=0.01, reward_mean=0.5, reward_std=0.5,
                              clip_fraction=0.0, tokens=12, steps=request.params.learning_steps, duration_ms=7)

    async def create_adapter(self, *, base, spec, dest_path) -> None:
        Path(dest_path).mkdir(parents=True)
        (Path(dest_path) / "adapter_config.json").write_text('{"r": %d}' % spec.rank)
        (Path(dest_path) / "adapter_model.safetensors").write_bytes(b"weights")

    def dataset_tokens(self, base, examples) -> list[int]:
        return [10 for _ in examples]

    def context_length(self, base) -> int:
        return 1024

    def count_prompt_tokens(self, base, messages) -> int:
        """A token per word, as FakeEngine counts."""
        return sum(len(m["content"].split()) for m in messages)

    def finetune(self, request, on_event) -> Future:
        return FakeEngine().finetune(request, on_event)

    def cancel_finetune(self, job_id) -> bool:
        return False

    def status(self) -> dict:
        return {"backend": self.name, "ready": True}

    def shutdown(self) -> None:
        """Holds nothing."""


class SharedCacheDownForWrites:
    """The shared cache as a Redis that answers reads but fails every write (it went away mid-request)."""

    def __init__(self, cache):
        self._cache = cache

    def get(self, *args, **kwargs):
        return self._cache.get(*args, **kwargs)

    def add(self, *args, **kwargs):
        return self._cache.add(*args, **kwargs)

    def incr(self, *args, **kwargs):
        import redis

        raise redis.ConnectionError("Connection refused")

    set = incr
