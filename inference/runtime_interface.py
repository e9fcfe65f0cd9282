"""What a runtime offers Django code, declared once.

A runtime is where the engine runs, seen from the web tier: beside this server (runtime.EmbeddedRuntime),
nowhere (runtime.DisabledRuntime, TIGER_ENGINE=off), or elsewhere (serve.runtime.RayRuntime: the replicas
of a Ray Serve application). Django code calls `runtime.get_runtime()` and uses only these members;
tests/inference/test_interfaces.py checks every implementation, test fakes included, against them.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from concurrent.futures import Future

from inference.engine.types import FineTuneRequest, GenerationRequest, LoraSpec, TrainingRequest, TrainingResult
from inference.stream import GenerationStream


@runtime_checkable
class RuntimeInterface(Protocol):
    name: str  # the backend's name, as /health reports it

    async def start_generation(self, request: GenerationRequest) -> GenerationStream:
        """Start a generation; errors known before anything streams (context too long, queue full, no
        engine) raise here. The caller must close() the stream."""

    async def train(self, request: TrainingRequest) -> TrainingResult:
        """Train; returns once the new revision is written to request.dest_path (when it changed)."""

    async def create_adapter(self, *, base: str, spec: LoraSpec, dest_path: str) -> None:
        """Write revision 0 of a user model (LoRA B is zero: it generates what its base generates)."""

    def dataset_tokens(self, base: str, examples) -> list[int]:
        """Blocking: tokens of each dataset example with `base`'s tokenizer and chat template."""

    def context_length(self, base: str) -> int:
        """Blocking: the base model's context length in tokens."""

    def count_prompt_tokens(self, base: str, messages: list[dict]) -> int:
        """Blocking: tokens of `messages` rendered with `base`'s chat template (as a generation's prompt)."""

    def finetune(self, request: FineTuneRequest, on_event) -> Future:
        """Blocking: queue a fine-tuning job on its base's engine; `on_event` gets FineTuneEvents from any
        thread; the Future resolves to a FineTuneResult (revision written) or raises (nothing written)."""

    def cancel_finetune(self, job_id: str) -> bool:
        """Stop a queued or running job; False when no engine has it."""

    def status(self) -> dict:
        """What /health reports: {"backend": name, "ready": bool, ...}; never raises."""

    def shutdown(self) -> None:
        """Release what this runtime holds in this process (an engine, connections)."""
