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

from .kv_cache import GrowableLayer, room
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

        All joins of one scheduling round go in with one copy of the cache, into buffers with room
        for the next steps.
        Atomic: if anything raises (out of memory), the running batch is left as it was."""
        joins = [j for j in joins if j.rows]
        if not joins:
            return
        lengths = [j.cache.get_seq_length() for j in joins]  # P per join
        sources = []  # (layers [(K, V)], rows, mask) per source; K/V: (b, H, t, D), a join's b = 1
        if self.rows:
            sources.append(([(layer.keys, layer.values) for layer in _layers(self.cache)], len(self.rows), self.mask))
        for j, P in zip(joins, lengths):
            layers = [(layer.keys, layer.values) for layer in _layers(j.cache)]
            sources.append((layers, len(j.rows), torch.ones(len(j.rows), P, dtype=torch.long, device=self.device)))

        T = max(mask.shape[1] for _, _, mask in sources)
        B = sum(rows for _, rows, _ in sources)
        merged = []  # per layer: (K, V) buffers (B, H, T + room, D), every source right-aligned at T
        for li in range(len(sources[0][0])):
            pair = []
            for side in (0, 1):
                buf = room(sources[0][0][li][side], B, T)
                start = 0
                for layers, rows, _ in sources:
                    part, t = buf[start:start + rows], layers[li][side].shape[2]
                    part[:, :, :T - t].zero_()  # padding: masked, but must be finite (0 x NaN is NaN)
                    part[:, :, T - t:T] = layers[li][side]  # a join's one prompt row fills its n rows
                    start += rows
                pair.append(buf)
            merged.append(pair)
        mask = torch.cat([F.pad(m, (T - m.shape[1], 0)) for _, _, m in sources], dim=0)  # (B, T)
        positions = [torch.full((len(j.rows),), P, dtype=torch.long, device=self.device) for j, P in zip(joins, lengths)]
        tokens = [torch.tensor(j.next_tokens, dtype=torch.long, device=self.device) for j in joins]
        if self.rows:
            positions.insert(0, self.positions)
            tokens.insert(0, self.next_tokens)
        positions, tokens = torch.cat(positions), torch.cat(tokens)  # (B,), (B,)

        # Nothing can fail from here on.
        cache = self.cache if self.rows else joins[0].cache
        if not self.rows:
            cache.layers = [GrowableLayer() for _ in cache.layers]
        for layer, (keys, values) in zip(cache.layers, merged):
            layer.hold(keys, values, T)
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
        length = self.mask.shape[1]
        for layer in _layers(self.cache):
            keys, values = room(layer.keys, len(indices), length), room(layer.values, len(indices), length)
            torch.index_select(layer.keys[:, :, first:], 0, idx, out=keys[:, :, :length])
            torch.index_select(layer.values[:, :, first:], 0, idx, out=values[:, :, :length])
            layer.hold(keys, values, length)

    def clear(self) -> None:
        self.rows, self.cache, self.mask, self.positions, self.next_tokens = [], None, None, None, None


def _layers(cache: DynamicCache) -> list[DynamicLayer]:
    layers = cache.layers
    # Sliding-window or linear-attention layers keep other state: merging them needs other code.
    assert all(type(layer) in (DynamicLayer, GrowableLayer) for layer in layers), [type(layer).__name__ for layer in layers]
    return layers

