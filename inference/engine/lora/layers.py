"""Batches whose rows use different LoRA adapters: the per-row LoRA math, on a PeftModel's layers.

peft can do this itself (`peft_model(..., adapter_names=[...])`), but at a cost that dominates a
decode step of a small model: per call it walks every module of the model twice to hook the LoRA
layers (with dozens of adapters loaded: thousands of modules), and every LoRA layer regroups the
rows from Python lists, then gathers and scatters each adapter's rows. Here each LoRA layer gets
two hooks once: before it, peft is told that every row is the base's, so it runs the base layer
only; after it, `_add_lora` adds the adapters' B(A(x)) * scaling, with the rows grouped once per
call. A batch of one adapter computes exactly what peft computes (bitwise). A batch that mixes
adapters multiplies once by all of their A and B matrices stacked, with each row's scaling on its
own adapter's rank columns and zero elsewhere: a handful of operations per layer whatever the
number of adapters (equal to the grouped computation up to float rounding); stacks larger than
`STACK_MAX_ELEMENTS` per layer fall back to one group at a time.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from peft.tuners.lora import LoraLayer

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed batch's adapter_names
STACK_MAX_ELEMENTS = 1 << 20  # per layer: A and B of the batch's adapters stacked (4 MB in fp32)


@dataclass
class _Call:
    """The rows of the forward in progress."""

    names: list[str]  # adapter per row
    groups: list[tuple[str, torch.Tensor | None]]  # (adapter, its row indices; None: every row)
    base_names: list[str]  # BASE_ADAPTER per row, what peft's layers are told
    masks: dict[tuple, torch.Tensor] = field(default_factory=dict)  # per stack: (B, sum of ranks) scalings


class MixedLora:
    """Per-row adapters for forwards run inside `rows(...)`; outside, the hooks do nothing (training
    forwards go through peft as usual)."""

    def __init__(self, model: torch.nn.Module):
        self._model = model  # the base model peft injected its LoRA layers into
        self._layers: list[LoraLayer] = []
        self._call: _Call | None = None

    def hook_layers(self) -> None:
        """Hook every LoRA layer not hooked yet (call after each adapter load: a load may wrap new
        layers); and refuse what `_add_lora` does not compute."""
        for module in self._model.modules():
            if not isinstance(module, LoraLayer):
                continue
            if not getattr(module, "_engine_hooks", False):
                module.register_forward_pre_hook(self._base_rows, with_kwargs=True)
                module.register_forward_hook(self._add_lora)
                module._engine_hooks = True
                self._layers.append(module)
            # Plain, bias-free LoRA only (what the engine writes: no DoRA, no lora_bias).
            assert not module.lora_variant, f"unsupported LoRA variant in {sorted(module.lora_variant)}"
            assert all(b.bias is None for b in module.lora_B.values()), "unsupported LoRA bias"

    def forget_stacks(self) -> None:
        """Drop the stacked copies of adapter weights (an adapter was deleted)."""
        for module in self._layers:
            module.__dict__.pop("_engine_stack", None)

    @contextmanager
    def rows(self, adapter_names: list[str]) -> Iterator[None]:
        """Forwards inside the block run row i with adapter_names[i] (BASE_ADAPTER: none)."""
        assert not self._model.training, "mixed-adapter batches run in eval mode (no LoRA dropout)"
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(adapter_names):
            if name != BASE_ADAPTER:
                groups.setdefault(name, []).append(i)
        if len(groups) == 1 and len(next(iter(groups.values()))) == len(adapter_names):
            grouped = [(next(iter(groups)), None)]
        else:
            device = next(self._model.parameters()).device
            grouped = [(name, torch.tensor(ix, device=device)) for name, ix in groups.items()]
        self._call = _Call(list(adapter_names), grouped, len(adapter_names) * [BASE_ADAPTER])
        try:
            yield
        finally:
            self._call = None

    # -- hooks ---------------------------------------------------------------------------------------

    def _base_rows(self, module, args, kwargs):
        """Pre-hook: peft's layer runs the base weights only."""
        if self._call is not None:
            kwargs["adapter_names"] = self._call.base_names
        return args, kwargs

    def _add_lora(self, module, args, output):
        """Hook: add each row's adapter delta to the output; x: (B, ..., in), output: (B, ..., out)."""
        call = self._call
        if call is None:
            return None
        x = args[0]
        groups = [(name, rows) for name, rows in call.groups if name in module.lora_A]  # adapters of this layer
        if len(groups) > 1:
            stack = self._stack(module, tuple(sorted(name for name, _ in groups)))
            if stack is not None:
                a, b, columns = stack[1:]  # a: (R, in), b: (out, R), R: the ranks summed
                h = F.linear(x.to(a.dtype), a)  # (B, ..., R)
                h = h * self._mask(call, columns, a).view(h.shape[0], *([1] * (h.dim() - 2)), -1)
                output += F.linear(h, b).to(output.dtype)
                return output
        lora_A, lora_B, scaling = module.lora_A, module.lora_B, module.scaling
        for name, rows in groups:
            a = lora_A[name].weight  # (r, in); bias-free Linears called as functions (no module overhead)
            sub = x if rows is None else x.index_select(0, rows)
            delta = F.linear(F.linear(sub.to(a.dtype), a), lora_B[name].weight) * scaling[name]
            if rows is None:
                output += delta.to(output.dtype)
            else:
                output.index_add_(0, rows, delta.to(output.dtype))
        return output

    # -- stacked adapters ----------------------------------------------------------------------------

    def _stack(self, module: LoraLayer, names: tuple[str, ...]):
        """(names, A stacked (R, in), B side by side (out, R), columns) of a layer, kept until the set
        of adapters changes; columns: ((adapter, rank, scaling), ...) in stacking order. None when
        too large (then the adapters are applied one at a time)."""
        cached = module.__dict__.get("_engine_stack")
        if cached is not None and cached[0] == names:
            return cached
        size = sum(module.lora_A[n].weight.numel() + module.lora_B[n].weight.numel() for n in names)
        if size > STACK_MAX_ELEMENTS:
            module.__dict__.pop("_engine_stack", None)
            return None
        a = torch.cat([module.lora_A[n].weight for n in names])  # (R, in)
        b = torch.cat([module.lora_B[n].weight for n in names], dim=1)  # (out, R)
        columns = tuple((n, module.lora_A[n].weight.shape[0], module.scaling[n]) for n in names)
        module.__dict__["_engine_stack"] = stack = (names, a, b, columns)
        return stack

    def _mask(self, call: _Call, columns: tuple, like: torch.Tensor) -> torch.Tensor:
        """(B, R): row i holds its adapter's scaling on that adapter's rank columns, 0 elsewhere
        (one per call and column layout: the layers of a model mostly share it)."""
        mask = call.masks.get(columns)
        if mask is None:
            offsets, start = {}, 0
            for name, rank, scaling in columns:
                offsets[name] = (start, rank, scaling)
                start += rank
            mask = torch.zeros(len(call.names), start, dtype=like.dtype)
            for i, name in enumerate(call.names):
                if name in offsets:
                    begin, rank, scaling = offsets[name]
                    mask[i, begin:begin + rank] = scaling
            mask = call.masks[columns] = mask.to(like.device)
        return mask
