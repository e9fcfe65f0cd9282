"""Forward passes of the base model (with per-row LoRA adapters) for prefill and decode."""
from __future__ import annotations

import torch
from transformers import DynamicCache

from ..lora.manager import AdapterCache
from .batch import RunningBatch
from .kv_cache import new_cache
from .ragged import Packed, RaggedAttention


class ModelRunner:
    """Runs the model; always names each row's adapter explicitly (never the "active" one)."""

    def __init__(self, model_config, device: torch.device, adapters: AdapterCache):
        self.model_config = model_config
        self.device = device
        self.adapters = adapters
        # Prompts that can ride along with a decode step (ragged.py); None: the model's attention is
        # not one it knows, and prompts always get a forward of their own.
        model = adapters.module
        self.ragged = RaggedAttention(model) if RaggedAttention.supports(model) else None

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
    def prefill_many(self, prompts: list[list[int]], adapter_names: list[str]) -> tuple[list[DynamicCache], torch.Tensor]:
        """Run several prompts in one forward, each with its own adapter: what `prefill` gives for
        each alone, at the cost of about one forward (a small model's forward is mostly fixed cost).

        Prompts are padded on the RIGHT: under the causal mask a real token never sees a pad, and
        no query row is fully masked (which would put NaN into the pads' keys). Returns one cache
        per prompt, (1, H, P_i, D) per layer, and the logits of each prompt's last token, (k, V) fp32."""
        lengths = [len(p) for p in prompts]
        width = max(lengths)
        ids = torch.tensor([p + [p[-1]] * (width - len(p)) for p in prompts], dtype=torch.long, device=self.device)
        cache = new_cache(self.model_config)
        last = sorted(set(n - 1 for n in lengths))  # positions whose logits are needed
        out = self.adapters.forward(
            adapter_names,
            input_ids=ids,
            cache=cache,
            use_cache=True,
            logits_to_keep=torch.tensor(last, device=self.device),  # (k, len(last), V), not (k, width, V)
        )
        rows = torch.arange(len(prompts), device=self.device)
        cols = torch.tensor([last.index(n - 1) for n in lengths], device=self.device)
        logits = out.logits[rows, cols].float()
        caches = []
        for i, n in enumerate(lengths):
            one = new_cache(self.model_config)
            for layer, whole in zip(one.layers, cache.layers):
                layer.update(whole.keys[i:i + 1, :, :n], whole.values[i:i + 1, :, :n])  # copies into its own buffer
            caches.append(one)
        return caches, logits

    @torch.no_grad()
    def decode(self, batch: RunningBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """One token for every row of the batch, each with its own adapter.

        Returns (logits (B, V) fp32, the attention mask used (B, T + 1)) for `batch.commit_step`."""
        inputs = batch.step_inputs()
        names = [row.request.adapter_name for row in batch.rows]
        mask = inputs["attention_mask"]
        # One query per row sees every real column of its row: the padding mask is the whole attention
        # mask. Given in 4-D, transformers takes it as is instead of building it again every step from
        # index functions (with rows of different lengths that cost ~0.3 ms of a 2.5 ms step).
        inputs["attention_mask"] = mask.bool()[:, None, None, :]  # (B, 1, 1, T + 1)
        out = self.adapters.forward(names, **inputs, use_cache=True)
        return out.logits[:, -1, :].float(), mask

    @torch.no_grad()
    def decode_and_prefill(self, batch: RunningBatch, prompts: list[list[int]], adapter_names: list[str]
                           ) -> tuple[torch.Tensor, torch.Tensor, list[DynamicCache], torch.Tensor]:
        """`decode(batch)` and `prefill` of each prompt in ONE forward (ragged.py): what they give
        apart, up to float rounding, for one forward's fixed cost instead of one per prompt and the step.

        Returns (the batch's logits (B, V) fp32, its attention mask (B, T + 1) for `commit_step`,
        one cache per prompt, (1, H, P_i, D) per layer, and the prompts' last-token logits (k, V) fp32)."""
        assert self.ragged is not None and len(batch) and prompts
        inputs = batch.step_inputs()
        mask = inputs["attention_mask"]
        b = len(batch)
        spans, start = [], b
        for p in prompts:
            spans.append((start, len(p)))
            start += len(p)
        device = self.device
        ids = torch.cat([batch.next_tokens, torch.tensor([t for p in prompts for t in p], device=device)])
        positions = torch.cat([batch.positions, *(torch.arange(len(p), device=device) for p in prompts)])
        names = [row.request.adapter_name for row in batch.rows]
        for p, name in zip(prompts, adapter_names):
            names.extend([name] * len(p))
        call = Packed(decoding=b, batch_cache=batch.cache, batch_mask=mask.bool()[:, None, None, :],
                       spans=spans, prompt_caches=[new_cache(self.model_config) for _ in prompts])
        with self.ragged.packed(call):
            hidden = self.adapters.forward(
                names, packed=True, input_ids=ids[:, None], position_ids=positions[:, None],
                # Unused by the replaced attention; given in 4-D so transformers builds no mask.
                attention_mask=torch.ones(len(ids), 1, 1, 1, dtype=torch.bool, device=device),
                use_cache=False,
            ).last_hidden_state  # (N, 1, hidden)
        last = torch.tensor(list(range(b)) + [s + n - 1 for s, n in spans], device=device)
        logits = self.adapters.logits(hidden[last, 0]).float()  # (B + k, V)
        return logits[:b], mask, call.prompt_caches, logits[b:]
