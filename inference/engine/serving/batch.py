"""The running batch: its rows, their shared KV cache, attention mask and positions.

Rows are left-aligned to a common cache length T: a row whose history is shorter has zero K/V and a
0 in the attention mask on its left. Each row carries its own position ids, so padding never shifts
RoPE. Invariants (checked by `check`):
    cache keys/values: (B, H, T, D) per layer;  mask: (B, T);  positions, next_tokens: (B,)
    positions[i] == mask[i].sum() == number of real tokens of row i in the cache
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from .kv_cache import GrowableLayer
from .request import SequenceState


@dataclass
class Join:
    """Rows prefilled together from ONE prompt (a request's n candidates) that join the batch."""

    cache: DynamicCache  # batch 1: (1, H, P, D) per layer
    rows: list[SequenceState]
    next_tokens: list[int]  # the token each row sampled from the prefill, fed at the next step


class RunningBatch:
    """Rows decoding together. Only the engine thread touches it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.rows: list[SequenceState] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # (B, T) long, 1 for real tokens
        self.positions: torch.Tensor | None = None  # (B,) long, position id of next_tokens
        self.next_tokens: torch.Tensor | None = None  # (B,) long, fed at the next decode step

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def length(self) -> int:
        """T: cache length shared by all rows (padding included)."""
        return 0 if self.mask is None else self.mask.shape[1]

    def add(self, joins: list[Join]) -> None:
        """Merge prefilled rows: left-pad every cache to a common length, concatenate on the batch.

        All joins of one scheduling round go in with one concatenation (one copy of the cache).
        Atomic: if anything raises (out of memory), the running batch is left as it was."""
        joins = [j for j in joins if j.rows]
        if not joins:
            return
        lengths = [j.cache.get_seq_length() for j in joins]  # P per join
        sources = []  # (layers [(K, V)], mask) per source; K/V: (b, H, t, D), mask: (b, t)
        if self.rows:
            sources.append(([(layer.keys, layer.values) for layer in _layers(self.cache)], self.mask))
        for j, P in zip(joins, lengths):
            src = torch.zeros(len(j.rows), dtype=torch.long, device=self.device)  # n rows of one prompt
            layers = [(layer.keys.index_select(0, src), layer.values.index_select(0, src)) for layer in _layers(j.cache)]
            sources.append((layers, torch.ones(len(j.rows), P, dtype=torch.long, device=self.device)))

        T = max(mask.shape[1] for _, mask in sources)
        merged = [
            (torch.cat([_pad_left(layers[li][0], T) for layers, _ in sources], dim=0),  # (B, H, T, D)
             torch.cat([_pad_left(layers[li][1], T) for layers, _ in sources], dim=0))
            for li in range(len(sources[0][0]))
        ]
        mask = torch.cat([F.pad(m, (T - m.shape[1], 0)) for _, m in sources], dim=0)  # (B, T)
        positions = [torch.full((len(j.rows),), P, dtype=torch.long, device=self.device) for j, P in zip(joins, lengths)]
        tokens = [torch.tensor(j.next_tokens, dtype=torch.long, device=self.device) for j in joins]
        if self.rows:
            positions.insert(0, self.positions)
            tokens.insert(0, self.next_tokens)
        positions, tokens = torch.cat(positions), torch.cat(tokens)  # (B,), (B,)

        # Nothing can fail from here on.
        cache = self.cache if self.rows else joins[0].cache
        for layer, (keys, values) in zip(_layers(cache), merged):
            layer.keys, layer.values = keys, values
        self.cache, self.mask, self.positions, self.next_tokens = cache, mask, positions, tokens
        for j in joins:
            self.rows.extend(j.rows)

    def step_inputs(self) -> dict:
        """Model inputs of one decode step: each row's next token at its own position."""
        B = len(self.rows)
        assert B > 0
        return {
            "input_ids": self.next_tokens[:, None],  # (B, 1)
            "attention_mask": torch.cat([self.mask, self.mask.new_ones(B, 1)], dim=1),  # (B, T + 1)
            "position_ids": self.positions[:, None],  # (B, 1)
            "cache": self.cache,
        }

    def commit_step(self, attention_mask: torch.Tensor, sampled: torch.Tensor) -> None:
        """After a forward on `step_inputs()`: the cache grew by one column; sampled: (B,)."""
        self.mask = attention_mask
        self.positions = self.positions + 1
        self.next_tokens = sampled

    def keep(self, indices: list[int]) -> None:
        """Keep only these rows (finished and cancelled rows leave), then drop all-padding columns."""
        if len(indices) == len(self.rows):
            return
        if not indices:
            self.clear()
            return
        idx = torch.tensor(indices, dtype=torch.long, device=self.device)
        self.rows = [self.rows[i] for i in indices]
        self.mask = self.mask.index_select(0, idx)
        self.positions = self.positions.index_select(0, idx)
        self.next_tokens = self.next_tokens.index_select(0, idx)
        # Padding is only ever on the left, so all-padding columns are a prefix.
        first = int(self.mask.any(dim=0).to(torch.int8).argmax())
        self.mask = self.mask[:, first:]
        for layer in _layers(self.cache):
            layer.keys = layer.keys.index_select(0, idx)[:, :, first:]
            layer.values = layer.values.index_select(0, idx)[:, :, first:]

    def clear(self) -> None:
        self.rows, self.cache, self.mask, self.positions, self.next_tokens = [], None, None, None, None


def _layers(cache: DynamicCache) -> list[DynamicLayer]:
    layers = cache.layers
    # Sliding-window or linear-attention layers keep other state: merging them needs other code.
    assert all(type(layer) in (DynamicLayer, GrowableLayer) for layer in layers), [type(layer).__name__ for layer in layers]
    return layers


def _pad_left(x: torch.Tensor, length: int) -> torch.Tensor:
    """(b, H, t, D) -> (b, H, length, D) with zeros on the left of the time axis."""
    return F.pad(x, (0, 0, length - x.shape[2], 0))
