"""Forward passes of the base model (with per-row LoRA adapters) for prefill and decode."""
from __future__ import annotations

import torch
from transformers import DynamicCache

from .adapter_cache import AdapterCache
from .batch import RunningBatch
from .kv_cache import new_cache


class ModelRunner:
    """Runs the model; always names each row's adapter explicitly (never the "active" one)."""

    def __init__(self, model_config, device: torch.device, adapters: AdapterCache):
        self.model_config = model_config
        self.device = device
        self.adapters = adapters

    @torch.no_grad()
    def prefill(self, prompt_ids: list[int], adapter_name: str) -> tuple[DynamicCache, torch.Tensor]:
        """Run one prompt alone (no padding, so no fully masked query rows).

        Returns its cache, (1, H, P, D) per layer, and the logits of its last position, (1, V) fp32."""
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.device)  # (1, P)
        cache = new_cache(self.model_config)
        out = self.adapters.forward(
            [adapter_name],
            input_ids=ids,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,  # (1, 1, V): a 128k vocabulary times a long prompt would not fit
        )
        return cache, out.logits[:, -1, :].float()

    @torch.no_grad()
    def decode(self, batch: RunningBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """One token for every row of the batch, each with its own adapter.

        Returns (logits (B, V) fp32, the attention mask used (B, T + 1)) for `batch.commit_step`."""
        inputs = batch.step_inputs()
        names = [row.request.adapter_name for row in batch.rows]
        out = self.adapters.forward(names, **inputs, use_cache=True)
        return out.logits[:, -1, :].float(), inputs["attention_mask"]
