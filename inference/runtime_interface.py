"""What a runtime offers Django code, declared once.

A runtime is where the engine runs, seen from the web tier: beside this server (runtime.EmbeddedRuntime),
nowhere (runtime.DisabledRuntime, TIGER_ENGINE=off), or elsewhere (serve.runtime.RayRuntime: the replicas
of a Ray Serve application). Django code calls `runtime.get_runtime()` and uses only these members;
tests/inference/test_interfaces.py checks every implementation, test fakes included, against them.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from inference.engine.types import GenerationRequest, LoraSpec, TrainingRequest, TrainingResult
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

    def status(self) -> dict:
        """What /health reports: {"backend": name, "ready": bool, ...}; never raises."""

    def shutdown(self) -> None:
        """Release what this runtime holds in this process (an engine, connections)."""
