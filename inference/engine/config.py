"""Engine configuration: one dataclass, passed in by whoever builds the Engine (no globals)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    max_batch_size: int = 16  # rows decoded together (a request with n candidates takes n rows)
    max_queue: int = 64  # requests admitted to the queue but not yet running; more raise QueueFull
    adapter_cache_size: int = 8  # LoRA adapters kept on the device per base model
    prefill_token_budget: int = 4096  # prompt tokens prefilled between two decode steps (at least one request)
    # Prompts of up to this many tokens in all are prefilled inside the running batch's decode step
    # (serving/ragged.py) instead of a forward of their own; 0: never. Longer ones run apart: a long
    # prefill would hold up every running row's next token, and its tokens' LoRA is read per token.
    packed_prefill_tokens: int = 256
    max_context_length: int | None = None  # caps the checkpoint's max_position_embeddings (KV memory)
    device: str | None = None  # "cuda", "cuda:1", "cpu"; None: CUDA when present
    dtype: str | None = None  # "bfloat16", "float32", ...; None: bf16 on CUDA, fp32 on CPU
    # Every adapter path a request names (destinations, sources) must lie inside this directory;
    # None: unchecked, for library callers that build their own paths (the server always sets it).
    adapters_root: str | None = None
    cpu_threads: int | None = None  # torch intra-op threads (process-wide) when serving on the CPU;
    # tiny models run far faster on 1 than on several threads fighting over busy cores

    def __post_init__(self):
        for name in ("max_batch_size", "adapter_cache_size", "prefill_token_budget"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.packed_prefill_tokens < 0:
            raise ValueError(f"packed_prefill_tokens must be at least 0, got {self.packed_prefill_tokens}")
        if self.max_queue < 0:
            raise ValueError(f"max_queue must be at least 0, got {self.max_queue}")
