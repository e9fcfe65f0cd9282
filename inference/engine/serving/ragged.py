"""One forward that decodes the running batch and prefills newcomers' prompts (vLLM's mixed batches).

Under many users a request arrives every other decode step, and its prefill was a forward of its own:
for a small model, or a GPU that is not saturated, a forward costs about the same for 1 token as for 40,
so the arrivals cost nearly as much as the decoding. Here the tokens of both go through the model
packed one per row, (N, 1): the running rows' next tokens first, then every prompt's tokens. Norms, the
projections (the base weights once for all N tokens, each token's LoRA read in place, layers.py) and the
MLP do not care which row a token belongs to; only attention does, so each attention module's forward
is replaced (an instance attribute, as layers.py does for LoRA) by one that, inside `packed(...)`,
splits the tokens again: the running rows attend to the batch's cache (one new column each, written
in place), and each prompt to itself, causally, into a cache of its own that then joins the batch as a
prefill's would. Outside `packed(...)` the module's own forward runs.

Supported for Llama-style attention (q/k/v/o projections, rotary embeddings given by the model), which
both demo bases and the 8B checkpoints they stand for use; other models keep separate prefills.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch
from transformers import DynamicCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.models.llama.modeling_llama import LlamaAttention, apply_rotary_pos_emb


@dataclass
class Packed:
    """The forward in progress: rows [0, decoding) are the running batch's, then the prompts' spans."""

    decoding: int
    batch_cache: DynamicCache  # the running batch's, (B, Hkv, T, D) per layer: one column is added
    batch_mask: torch.Tensor  # (B, 1, 1, T + 1) bool: each running row's real columns
    spans: list[tuple[int, int]]  # (first row, length) of each prompt
    prompt_caches: list[DynamicCache]  # one per prompt, filled by the forward


class RaggedAttention:
    """Replaces the forward of a model's attention modules; see the module's docstring."""

    @staticmethod
    def supports(model: torch.nn.Module) -> bool:
        """Whether every decoder layer's attention is a LlamaAttention (not merely like one)."""
        layers = [m for m in model.modules() if hasattr(m, "self_attn")]
        return bool(layers) and all(type(layer.self_attn) is LlamaAttention for layer in layers)

    def __init__(self, model: torch.nn.Module):
        assert self.supports(model), "packed forwards need Llama-style attention"
        self._call: Packed | None = None
        for module in model.modules():
            if type(module) is LlamaAttention:
                module.forward = partial(self._forward, module)

    @contextmanager
    def packed(self, call: Packed) -> Iterator[None]:
        self._call = call
        try:
            yield
        finally:
            self._call = None

    def _forward(self, module: LlamaAttention, hidden_states: torch.Tensor, position_embeddings=None,
                 attention_mask=None, cache=None, **kwargs) -> tuple[torch.Tensor, None]:
        call = self._call
        if call is None:
            return LlamaAttention.forward(module, hidden_states, position_embeddings=position_embeddings,
                                          attention_mask=attention_mask, cache=cache, **kwargs)
        n = hidden_states.shape[0]  # (N, 1, hidden): one token per row
        shape = (n, 1, -1, module.head_dim)
        q = module.q_proj(hidden_states).view(shape).transpose(1, 2)  # (N, H, 1, D)
        k = module.k_proj(hidden_states).view(shape).transpose(1, 2)  # (N, Hkv, 1, D)
        v = module.v_proj(hidden_states).view(shape).transpose(1, 2)
        cos, sin = position_embeddings  # (N, 1, D): each token at its own position
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        parts = []  # (rows, 1, H, D) per group, in row order
        b, layer = call.decoding, module.layer_idx
        if b:
            keys, values = call.batch_cache.layers[layer].update(k[:b], v[:b])  # (B, Hkv, T + 1, D)
            parts.append(sdpa_attention_forward(module, q[:b], keys, values, call.batch_mask,
                                                scaling=module.scaling)[0])
        for (start, length), prompt_cache in zip(call.spans, call.prompt_caches):
            # Rows of one prompt -> one sequence: (P, h, 1, D) -> (1, h, P, D).
            qp, kp, vp = (t[start:start + length].permute(2, 1, 0, 3) for t in (q, k, v))
            keys, values = prompt_cache.layers[layer].update(kp, vp)
            out = sdpa_attention_forward(module, qp, keys, values, None, scaling=module.scaling, is_causal=True)[0]
            parts.append(out.view(length, 1, *out.shape[2:]))  # (1, P, H, D) -> (P, 1, H, D)
        attn = torch.cat(parts) if len(parts) > 1 else parts[0]
        return module.o_proj(attn.reshape(n, 1, -1)), None
