"""A KV cache layer that appends in place.

transformers' DynamicLayer concatenates on every update: each decode step copies the whole cache of
every layer (for an 8B model, B=16 rows of 8k tokens, 16 GB per step). GrowableLayer keeps spare
capacity and writes the new column into it, so a decode step writes one column; it reallocates
only every CHUNK tokens. The running batch rebuilds its cache when rows join or leave (almost every
step under many users) straight into buffers with ROOM spare columns (`hold`), so the next steps
write in place instead of copying the cache once more to grow it. Other edits assign whole tensors
through the `keys` / `values` setters, exactly as with a DynamicLayer.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

CHUNK = 256  # tokens of spare capacity added per growth (per row, per layer)
ROOM = 32  # spare columns of a cache rebuilt by a batch merge or row removal (another comes soon)


class GrowableLayer(DynamicLayer):
    """DynamicLayer semantics (keys/values of shape (B, H, T, D)) over a buffer with spare room."""

    def __init__(self, **kwargs):
        self._k: torch.Tensor | None = None  # (B, H, capacity, D) once initialised
        self._v: torch.Tensor | None = None
        # Filled columns, kept per tensor: callers assign keys then values one after the other
        # (transformers' batch_select_indices and crop do), and each must read its own length.
        self._klen = self._vlen = 0
        super().__init__(**kwargs)

    @property
    def keys(self) -> torch.Tensor | None:
        return _view(self._k, self._klen)

    @keys.setter
    def keys(self, value: torch.Tensor | None) -> None:
        self._k, self._klen = value, _length(value)

    @property
    def values(self) -> torch.Tensor | None:
        return _view(self._v, self._vlen)

    @values.setter
    def values(self, value: torch.Tensor | None) -> None:
        self._v, self._vlen = value, _length(value)

    def hold(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        """Take buffers (B, H, >= length, D) whose first `length` columns are the cache; the columns
        after them are room for the next updates (see `room`)."""
        if not self.is_initialized:
            self.device, self.is_initialized = keys.device, True
        self._k, self._v, self._klen, self._vlen = keys, values, length, length

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Append (B, H, n, D) states; return the (B, H, T + n, D) views attention reads."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        assert self._klen == self._vlen, (self._klen, self._vlen)
        T, n = self._klen, key_states.shape[2]
        if self._k.dim() != 4:  # the empty placeholder of lazy_initialization: a prefill
            # No room: a prefill's cache is copied into the running batch's buffers (`hold`) next.
            self._k, self._v = key_states.new_empty(key_states.shape), value_states.new_empty(value_states.shape)
        elif T + n > self._k.shape[2]:
            self._k, self._v = self._grow(self._k, T, n), self._grow(self._v, T, n)
        self._k[:, :, T : T + n] = key_states
        self._v[:, :, T : T + n] = value_states
        self._klen = self._vlen = T + n
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self._klen if self.is_initialized else 0

    @staticmethod
    def _grow(buf: torch.Tensor, filled: int, n: int) -> torch.Tensor:
        B, H, _, D = buf.shape
        grown = buf.new_empty(B, H, filled + n + CHUNK, D)  # columns past `filled` are written before read
        grown[:, :, :filled] = buf[:, :, :filled]
        return grown


def room(like: torch.Tensor, rows: int, length: int) -> torch.Tensor:
    """An uninitialised buffer (rows, H, length + ROOM, D) for `GrowableLayer.hold`: columns past the
    cache are written before they are read."""
    _, H, _, D = like.shape
    return like.new_empty(rows, H, length + ROOM, D)


def _view(buf: torch.Tensor | None, length: int) -> torch.Tensor | None:
    return buf if buf is None or buf.dim() != 4 else buf[:, :, :length]


def _length(value: torch.Tensor | None) -> int:
    return value.shape[2] if value is not None and value.dim() == 4 else 0


def new_cache(model_config) -> DynamicCache:
    """An empty cache for `model_config` whose full-attention layers append in place."""
    cache = DynamicCache(config=model_config)
    assert all(type(layer) is DynamicLayer for layer in cache.layers), (
        "only full-attention models are supported: " + ", ".join(type(layer).__name__ for layer in cache.layers)
    )
    cache.layers = [GrowableLayer() for _ in cache.layers]
    return cache
