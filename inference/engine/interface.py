"""What an engine offers its callers, declared once.

Two classes implement it: `serving.engine.Engine` (threads of this process) and `process.EngineProcess`
(the same engine in a child process). Callers (the runtimes, the worker server, the Ray deployment)
depend on this protocol, not on either class; tests/inference/test_interfaces.py checks that every
implementation, test fakes included, has these methods with these parameters.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol, runtime_checkable

from .types import AdapterRef, EventCallback, FineTuneEvent, FineTuneRequest, GenerationRequest, LoraSpec, TrainingRequest


@runtime_checkable
class EngineInterface(Protocol):
    """Generation and training on a catalog of base models. Every method is thread-safe."""

    @property
    def bases(self) -> list[str]:
        """Names of the configured base models."""

    def context_length(self, base: str) -> int:
        """The base model's context length in tokens (prompt + completion)."""

    def count_prompt_tokens(self, base: str, messages: Sequence[dict]) -> int:
        """Tokens of `messages` once rendered with the base's chat template."""

    def dataset_tokens(self, base: str, examples: Sequence) -> list[int]:
        """Tokens each dataset example (training.examples) costs per epoch, untruncated."""

    def start(self, base: str) -> None:
        """Start loading a base's weights now rather than at its first request."""

    def is_ready(self, base: str) -> bool:
        """Whether a base's weights are loaded."""

    def submit(self, req: GenerationRequest, on_event: EventCallback) -> None:
        """Start a generation; `on_event` gets its events (types.Event) in order, from another thread.
        Errors known before anything streams (context too long, queue full, unknown base) raise here."""

    def submit_nowait(self, req: GenerationRequest, on_event: EventCallback) -> Future:
        """submit without waiting for the engine's decision: the future resolves (to None) once the
        request is accepted, or raises what submit would have raised (then `on_event` gets nothing).
        Events may come before the future resolves. Returns at once, so an event loop may call it
        and await the future (asyncio.wrap_future) without a thread hop."""

    def cancel(self, request_id: str) -> None:
        """Stop a generation soon: each unfinished index gets Finished("cancelled"), then Done.
        Unknown or finished ids are ignored."""

    def create_adapter(self, base: str, spec: LoraSpec, dest_path: str,
                       copy_from: AdapterRef | None = None) -> None:
        """Write a user model's adapter directory at `dest_path` (atomically; it must not exist)."""

    def forget_adapter(self, base: str, key: str) -> None:
        """Unload every cached revision of a user model."""

    def train(self, req: TrainingRequest) -> Future:
        """Queue a training; the future resolves to a TrainingResult once the revision is written."""

    def finetune(self, req: FineTuneRequest, on_event: Callable[[FineTuneEvent], None]) -> Future:
        """Queue a fine-tuning job (one at a time per base); `on_event` gets its progress; the future
        resolves to a FineTuneResult once the revision is written, or raises (nothing written)."""

    def cancel_finetune(self, job_id: str) -> bool:
        """Stop a queued or running job; False when no engine has it."""

    def stats(self, base: str) -> dict:
        """Counters of a base (decode steps, prefills, open requests); {} for a base not started."""

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop everything; requests still in flight get Failed."""
