"""Batches whose rows use different LoRA adapters: the per-row LoRA math, on a PeftModel's layers.

peft can do this itself (`peft_model(..., adapter_names=[...])`), but at a cost that dominates a
decode step of a small model: per call it walks every module of the model twice to hook the LoRA
layers (with dozens of adapters loaded: thousands of modules), and every LoRA layer regroups the
rows from Python lists, then gathers and scatters each adapter's rows. Here each LoRA layer's
forward is replaced once (an instance attribute, so torch calls it without the slower path that
hooks take): inside `rows(...)` it runs the base Linear and `_add_lora` adds the rows' B(A(x)) *
scaling; outside, peft's own forward runs (training).

A batch of one adapter computes exactly what peft computes (bitwise). A batch that mixes adapters
works per row (Punica's BGMV, S-LoRA): every registered adapter has a slot in stacks kept per layer
and per rank, A^T: (slots, in, r), B^T: (slots, r, out), and peft's own parameters are (transposed)
views into them, so the stacks cost no memory of their own beyond spare slots. Per layer and rank
present in the batch, a prefill (several tokens per row) gathers the rows' A and B by slot and runs
two batched matmuls, the copy paid once for all the row's tokens; a decode step (one token per row)
does the same at small ranks, and from rank 32 runs two embedding bags over the stacks viewed as
tables of rows, which read each row's A and B in place (`_add_bgmv`) instead of copying them. The
number of operations does not grow with the number of distinct adapters, and nothing is rebuilt
when the set of adapters in the batch changes (it changes almost every step under many users).
Slot 0 stays zero: rows of the base, of another rank, or of an adapter that does not wrap this
layer, add 0. Equal to the grouped computation up to float rounding.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from peft.tuners.lora import LoraLayer

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed batch's adapter_names

_Bucket = tuple[int, torch.dtype]  # (rank, dtype): adapters whose A/B share a stack on a layer


@dataclass
class _Call:
    """The rows of the forward in progress."""

    single: str | None  # the one adapter of every row, or None (a mixed batch)
    slots: list[tuple[_Bucket, torch.Tensor]]  # per bucket used by the rows: (B,) slot per row, 0: none
    in_place: bool = False  # one token per row at every rank: read the stacks in place (embedding bags)
    bags: dict = field(default_factory=dict)  # (bucket, n) -> rows_of's answer

    def rows_of(self, key: _Bucket, slot: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The bags over a stack viewed as a table of (S * n) rows: bag b (from offsets[b]) lists the
        n rows that make up slot[b]'s matrix. The same for every layer of that width: built once per
        forward."""
        bags = self.bags.get((key, n))
        if bags is None:
            rows = len(slot)
            indices = (slot[:, None] * n + torch.arange(n, device=slot.device)).reshape(-1)  # (B * n,)
            bags = self.bags[(key, n)] = indices, torch.arange(0, rows * n, n, device=slot.device)
        return bags


class _Stack:
    """A layer's adapters of one bucket: A^T (S, in, r), B^T (S, r, out), scaling (S,); slot 0 is zero."""

    def __init__(self, capacity: int, a_shape: tuple, b_shape: tuple, like: torch.Tensor):
        self.a = like.new_zeros(capacity, a_shape[1], a_shape[0])
        self.b = like.new_zeros(capacity, b_shape[1], b_shape[0])
        self.scale = like.new_zeros(capacity)
        self.uniform: float | None = None  # the scaling every live slot shares (one multiply less)

    def grow(self, capacity: int) -> None:
        for attr in ("a", "b", "scale"):
            old = getattr(self, attr)
            new = old.new_zeros(capacity, *old.shape[1:])
            new[: old.shape[0]] = old
            setattr(self, attr, new)

    def clear(self, slot: int) -> None:
        self.a[slot].zero_()
        self.b[slot].zero_()
        self.scale[slot] = 0.0


class _Slots:
    """Which slot each adapter of a bucket holds: the same on every layer, so one index per call."""

    def __init__(self):
        self.capacity = 1  # slot 0: the zero adapter
        self.of: dict[str, int] = {}
        self.free: list[int] = []

    def take(self, name: str) -> tuple[int, bool]:
        """(slot, whether the stacks must grow to hold it)."""
        if self.free:
            slot = self.free.pop()
        else:
            slot = len(self.of) + 1
        self.of[name] = slot
        grow = slot >= self.capacity
        if grow:
            self.capacity = max(self.capacity + 4, self.capacity * 5 // 4)  # spare slots: at most ~25 %
        return slot, grow


class MixedLora:
    """Per-row adapters for forwards run inside `rows(...)`; outside, the hooks do nothing (training
    forwards go through peft as usual)."""

    def __init__(self, model: torch.nn.Module):
        self._model = model  # the base model peft injected its LoRA layers into
        self._layers: list[LoraLayer] = []
        self._call: _Call | None = None
        self._buckets: dict[_Bucket, _Slots] = {}
        self._registered: dict[str, set[_Bucket]] = {}  # adapter -> the buckets it has slots in
        # Decode steps of this rank and above read the stacks in place (embedding bags); below it they
        # gather the rows' A and B as prefills do: the copy is small there and two batched matmuls beat
        # two bags (bench/lora_batch.py times both: with 8 distinct adapters gathering is 4-11 % faster
        # at ranks 8 and 16, even at 32, 7 % slower at 64).
        self.bags_from_rank = 32

    def hook_layers(self) -> None:
        """Take over the forward of every LoRA layer not taken yet (call after each adapter load: a
        load may wrap new layers); and refuse what `_add_lora` does not compute."""
        for module in self._model.modules():
            if not isinstance(module, LoraLayer):
                continue
            if "_engine_stacks" not in module.__dict__:
                assert type(module.base_layer) is torch.nn.Linear, f"unsupported base layer {type(module.base_layer)}"
                module.forward = partial(self._forward, module)
                module.__dict__["_engine_stacks"] = {}
                module.__dict__["_engine_single"] = {}  # adapter -> _single_weights (looked up once)
                self._layers.append(module)
            # Plain, bias-free LoRA only (what the engine writes: no DoRA, no lora_bias).
            assert not module.lora_variant, f"unsupported LoRA variant in {sorted(module.lora_variant)}"
            assert all(b.bias is None for b in module.lora_B.values()), "unsupported LoRA bias"

    # -- adapters that may run in a batch ---------------------------------------------------------

    def register(self, name: str) -> None:
        """Give a loaded, inference-only adapter its slots, moving its weights into the stacks (its
        peft parameters become views of them). Its weights must not change afterwards."""
        assert name not in self._registered, f"{name} is registered already"
        buckets: set[_Bucket] = set()
        with torch.no_grad():
            for module in self._layers:
                if name not in module.lora_A:
                    continue
                a, b = module.lora_A[name].weight, module.lora_B[name].weight  # (r, in), (out, r)
                key = (a.shape[0], a.dtype)
                slots = self._buckets.setdefault(key, _Slots())
                if key not in buckets:
                    slot, grow = slots.take(name)
                    buckets.add(key)
                    if grow:
                        self._grow(key)
                slot = slots.of[name]
                stacks = module.__dict__["_engine_stacks"]
                stack = stacks.get(key)
                if stack is None:
                    stack = stacks[key] = _Stack(slots.capacity, tuple(a.shape), tuple(b.shape), a)
                stack.a[slot].copy_(a.T)
                stack.b[slot].copy_(b.T)
                stack.scale[slot] = module.scaling[name]
                module.lora_A[name].weight.data = stack.a[slot].T
                module.lora_B[name].weight.data = stack.b[slot].T
                self._rescan_scale(module, key)
        self._registered[name] = buckets

    def unregister(self, name: str) -> None:
        """Free an adapter's slots (before peft deletes it); a no-op for one never registered."""
        for module in self._layers:
            module.__dict__["_engine_single"].pop(name, None)
        for key in self._registered.pop(name, ()):
            slots = self._buckets[key]
            slot = slots.of.pop(name)
            for module in self._layers:
                stack = module.__dict__["_engine_stacks"].get(key)
                if stack is not None:
                    stack.clear(slot)  # a later adapter in this slot may not wrap this layer
                    self._rescan_scale(module, key)
            slots.free.append(slot)

    def _grow(self, key: _Bucket) -> None:
        capacity = self._buckets[key].capacity
        for module in self._layers:
            stack = module.__dict__["_engine_stacks"].get(key)
            if stack is None:
                continue
            stack.grow(capacity)
            for other, slot in self._buckets[key].of.items():  # re-point the views at the new stacks
                if other in self._registered and self._holds(module, other, key):
                    module.lora_A[other].weight.data = stack.a[slot].T
                    module.lora_B[other].weight.data = stack.b[slot].T

    @staticmethod
    def _single_weights(module: LoraLayer, name: str) -> tuple:
        """(A, B, scaling) of `name` on this layer, () if it does not wrap it. The parameters, not their
        data: re-pointed when the stacks grow, they stay the same objects."""
        if name not in module.lora_A:
            return ()
        return module.lora_A[name].weight, module.lora_B[name].weight, module.scaling[name]

    @staticmethod
    def _holds(module: LoraLayer, name: str, key: _Bucket) -> bool:
        """Whether `name` wraps this layer with the rank and dtype of `key`."""
        if name not in module.lora_A:
            return False
        a = module.lora_A[name].weight
        return (a.shape[0], a.dtype) == key

    def _rescan_scale(self, module: LoraLayer, key: _Bucket) -> None:
        stack = module.__dict__["_engine_stacks"][key]
        # Slots of adapters that do not wrap this layer hold zeros: any scaling suits them.
        live = {stack.scale[s].item() for s in self._buckets[key].of.values()} - {0.0}
        stack.uniform = (next(iter(live)) if live else 1.0) if len(live) <= 1 else None

    # -- forwards -------------------------------------------------------------------------------------

    @contextmanager
    def rows(self, adapter_names: list[str], in_place: bool = False) -> Iterator[None]:
        """Forwards inside the block run row i with adapter_names[i] (BASE_ADAPTER: none).

        in_place: every row is one token and the stacks are read in place at any rank; for packed
        forwards (serving/ragged.py), whose prompt tokens would otherwise each copy their A and B."""
        assert not self._model.training, "mixed-adapter batches run in eval mode (no LoRA dropout)"
        distinct = set(adapter_names)
        single = next(iter(distinct)) if len(distinct) == 1 else None
        slots = []
        if single is None:
            distinct.discard(BASE_ADAPTER)
            for name in distinct:
                assert name in self._registered, f"adapter {name} is not registered for mixed batches"
            used = {key for name in distinct for key in self._registered[name]}
            device = next(self._model.parameters()).device
            for key in used:
                of = self._buckets[key].of
                slots.append((key, torch.tensor([of.get(n, 0) for n in adapter_names], device=device)))
        elif single == BASE_ADAPTER:
            single = None  # no slots: nothing to add
        self._call = _Call(single, slots, in_place)
        try:
            yield
        finally:
            self._call = None

    def _forward(self, module: LoraLayer, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """The LoRA layer's forward: peft's outside `rows(...)`; inside, the base Linear plus each row's
        adapter delta (peft's own result for a batch of one adapter, bitwise)."""
        call = self._call
        if call is None:
            return type(module).forward(module, x, *args, **kwargs)
        base = module.base_layer
        return self._add_lora(module, call, x, F.linear(x, base.weight, base.bias))

    def _add_lora(self, module: LoraLayer, call: _Call, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """Add each row's adapter delta to the output; x: (B, ..., in), output: (B, ..., out)."""
        state = module.__dict__
        name = call.single
        if name is not None:  # every row the same adapter: exactly peft's computation
            weights = state["_engine_single"].get(name)
            if weights is None:
                weights = state["_engine_single"][name] = self._single_weights(module, name)
            if weights:
                a, b, scaling = weights  # (r, in), (out, r): bias-free Linears called as functions
                delta = F.linear(F.linear(x.to(a.dtype), a), b) * scaling
                output += delta.to(output.dtype)
            return output
        stacks = module.__dict__["_engine_stacks"]
        rows = x.shape[0]
        out = output.view(rows, -1, output.shape[-1])  # (B, T, out)
        for key, slot in call.slots:
            stack = stacks.get(key)
            if stack is None:  # no adapter of this rank wraps this layer
                continue
            if out.shape[1] == 1 and (call.in_place or key[0] >= self.bags_from_rank):  # one token per row
                self._add_bgmv(call, key, slot, stack, x.reshape(rows, x.shape[-1]), out.view(rows, -1))
                continue
            # Several tokens per row (a prefill): copying each row's A and B is paid once for T tokens.
            h = torch.bmm(x.reshape(rows, -1, x.shape[-1]).to(stack.a.dtype), stack.a.index_select(0, slot))  # (B, T, r)
            b = stack.b.index_select(0, slot)  # (B, r, out)
            if stack.uniform is None:
                h = h.mul_(stack.scale.index_select(0, slot).view(rows, 1, 1))
            if out.dtype == h.dtype:
                out.baddbmm_(h, b, alpha=1.0 if stack.uniform is None else stack.uniform)
            else:
                out += torch.bmm(h, b).mul_(1.0 if stack.uniform is None else stack.uniform).to(out.dtype)
        return output

    @staticmethod
    def _add_bgmv(call: _Call, key: _Bucket, slot: torch.Tensor, stack: _Stack, x: torch.Tensor,
                  out: torch.Tensor) -> None:
        """out (B, out) += x (B, in) @ A_slot @ B_slot * scaling, each row with its own slot, reading the
        stacks in place: an embedding bag per side (row b sums the stack rows of its slot's matrix,
        weighted by its x, then by its h), Punica's BGMV without a kernel of its own. Gathering the
        rows' matrices instead copies B x r x (in + out) floats per layer, which at rank 64 cost more
        than the matmuls (bench/lora_batch.py)."""
        slots, n_in, r = stack.a.shape
        h = _bag_sums(stack.a.view(slots * n_in, r), *call.rows_of(key, slot, n_in),
                      x.to(stack.a.dtype).reshape(-1))  # (B, r)
        if stack.uniform is None:
            h = h.mul_(stack.scale.index_select(0, slot).view(-1, 1))
        delta = _bag_sums(stack.b.view(slots * r, -1), *call.rows_of(key, slot, r), h.reshape(-1))  # (B, out)
        out.add_(delta.to(out.dtype), alpha=1.0 if stack.uniform is None else stack.uniform)


def _bag_sums(table: torch.Tensor, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per bag, the sum of its table rows times their weights (mode "sum" with per-sample weights).
    `torch.embedding_bag` itself: F.embedding_bag's argument checks and 2-D handling cost more than
    the sums at these sizes (9 us a call on the bench machine)."""
    return torch.embedding_bag(table, indices, offsets, False, 0, False, weights, False, None)[0]
