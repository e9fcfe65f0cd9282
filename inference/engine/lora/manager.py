"""The LRU of LoRA adapters loaded on a base model's one PeftModel (vLLM's LRU adapter manager)."""
from __future__ import annotations

import ctypes
import logging
import sys
from collections import OrderedDict
from dataclasses import dataclass

import torch
from peft import PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer

from .adapters import check_adapter_dir, lora_config
from ..checkpoint import MODEL_BUILD_LOCK
from ..errors import AdapterLoadError
from .layers import BASE_ADAPTER, MixedLora
from ..types import AdapterRef, LoraSpec

logger = logging.getLogger(__name__)


_Key = tuple[str, int, str]  # (key, revision, path)


def _return_freed_memory() -> None:
    """Give the heap pages freed by a load back to the OS (Linux, glibc): the file's buffers, peft's
    own copies of the weights (now in the slot stacks) and stacks outgrown. glibc keeps them
    otherwise, and 50 adapters then cost 2.1x their files in resident memory instead of 1.45x
    (bench/serving.py, section 4)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


try:
    _LIBC = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
    _LIBC.malloc_trim  # noqa: B018  (musl has none)
except (OSError, AttributeError):
    _LIBC = None


def _key(ref: AdapterRef) -> _Key:
    return (ref.key, ref.revision, ref.path)


class AdapterSlotsBusy(Exception):
    """Every cached adapter is used by a running request: the caller waits for a release."""


@dataclass
class _Entry:
    name: str
    refs: int = 0
    forgotten: bool = False  # the model was deleted: drop on the last release


class AdapterCache:
    """The LRU of LoRA adapters loaded on the ONE PeftModel of a base model.

    Cached by (key, revision, path): the path too, so a revision number reused after a failed
    commit (a new directory) never serves stale weights. `capacity` adapters at most, evicting the least recently
    used one that no running request holds BEFORE loading another. Not thread-safe: only the engine
    thread of the base touches it (loading mutates the model's modules).

    The PeftModel is created by the first load; until then `module` is the plain base model.
    """

    def __init__(self, base_model: torch.nn.Module, capacity: int):
        assert capacity >= 1, capacity
        self._base = base_model
        self._peft: PeftModel | None = None
        self.capacity = capacity
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()  # oldest first
        self._by_name: dict[str, _Key] = {}
        self._counter = 0
        self._mixed = MixedLora(base_model)

    # -- what to call -------------------------------------------------------------------------

    @property
    def module(self) -> torch.nn.Module:
        """The model to run forward on: the PeftModel while it holds adapters, else the base
        (whose LoRA wrappers, once every adapter is deleted, add nothing)."""
        return self._peft if self._has_adapters() else self._base

    @property
    def peft_model(self) -> PeftModel | None:
        return self._peft

    @property
    def mixed(self) -> MixedLora:
        """The per-row LoRA of mixed batches (bench/lora_batch.py switches its decode path)."""
        return self._mixed

    def forward(self, adapter_names: list[str], *, packed: bool = False, **inputs):
        """Run the model on a batch whose row i uses adapter_names[i] (BASE_ADAPTER: none); what
        `peft_model(**inputs, adapter_names=...)` computes, far cheaper (see layers.py).

        packed: rows are single tokens of several sequences (ragged.py): returns the decoder's
        hidden states instead of logits, for the caller to take the logits of the rows it needs,
        and each row's LoRA is read in place whatever its rank (no copy of A and B per token)."""
        model = self._base  # peft injected its LoRA layers into this very model
        run = model.get_decoder() if packed else model
        if not self._has_adapters():
            assert set(adapter_names) == {BASE_ADAPTER}, adapter_names
            return run(**inputs)
        with self._mixed.rows(adapter_names, in_place=packed):
            return run(**inputs)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The language-model head on hidden states of a packed forward (no LoRA wraps it)."""
        return self._base.get_output_embeddings()(hidden)

    # -- cached adapters ----------------------------------------------------------------------

    def loaded(self) -> list[tuple[str, int]]:
        """(key, revision) of the cached adapters, least recently used first."""
        return [(k[0], k[1]) for k in self._entries]

    def can_acquire(self, ref: AdapterRef | None) -> bool:
        """Whether `acquire(ref)` would succeed now without waiting for a release."""
        if ref is None or not ref.path or _key(ref) in self._entries:
            return True
        return len(self._entries) < self.capacity or any(e.refs == 0 for e in self._entries.values())

    def acquire(self, ref: AdapterRef | None) -> str:
        """The adapter name to put in `adapter_names` for `ref`, loading it if needed; hold it
        until `release(name)`. A ref with an empty path is an untouched revision 0: the base."""
        if ref is None or not ref.path:
            return BASE_ADAPTER
        key = _key(ref)
        entry = self._entries.get(key)
        if entry is None:
            if not self._make_room(1):
                raise AdapterSlotsBusy(f"all {self.capacity} adapter slots are in use")
            name = self._load(ref.path, trainable=False)
            self._mixed.register(name)
            _return_freed_memory()
            entry = self._entries[key] = _Entry(name)
            self._by_name[name] = key
            logger.info("loaded adapter %s revision %d as %s", ref.key, ref.revision, name)
        self._entries.move_to_end(key)
        entry.refs += 1
        return entry.name

    def release(self, name: str) -> None:
        """Give back one hold on an adapter taken with `acquire`."""
        if name == BASE_ADAPTER:
            return
        key = self._by_name[name]
        entry = self._entries[key]
        assert entry.refs > 0, f"release without acquire of {name}"
        entry.refs -= 1
        if entry.refs == 0 and entry.forgotten:
            self._evict(key)

    def forget(self, key: str) -> None:
        """Drop every cached revision of one user model (deleted): now, or at its last release."""
        for k, entry in list(self._entries.items()):
            if k[0] == key:
                entry.forgotten = True
                if entry.refs == 0:
                    self._evict(k)

    # -- adapters outside the LRU (training) ---------------------------------------------------

    def load_detached(self, ref: AdapterRef, *, spec: LoraSpec | None = None) -> str:
        """Load `ref` under a FRESH name, trainable, outside the LRU: trainings change weights in
        place, and running generations of that revision keep theirs. An empty path (an untouched
        revision 0) is created in memory from `spec`."""
        if ref.path:
            return self._load(ref.path, trainable=True)
        if spec is None:
            raise AdapterLoadError(f"revision {ref.revision} of {ref.key} has no directory and no LoRA settings")
        name = self._new_name()
        config = lora_config(spec)
        with torch.no_grad(), MODEL_BUILD_LOCK:
            if self._peft is None:
                self._peft = get_peft_model(self._base, config, adapter_name=name)
            else:
                self._peft.add_adapter(name, config)
        self._fix_active()
        self._mixed.hook_layers()
        self._peft.eval()
        return name

    def adopt(self, ref: AdapterRef, name: str) -> None:
        """Cache a detached adapter as `ref` (a training wrote it to ref.path), unused."""
        key = _key(ref)
        assert key not in self._entries, f"{key} is cached already"
        assert name not in self._by_name, f"{name} is cached already"
        self._make_room(1)  # when every slot is busy the cache runs over capacity until releases
        for module in self.module.modules():  # inference only from now on: no grads on its tensors
            if isinstance(module, LoraLayer) and name in module.lora_A:
                module.lora_A[name].requires_grad_(False)
                module.lora_B[name].requires_grad_(False)
        self._mixed.register(name)
        self._entries[key] = _Entry(name)
        self._by_name[name] = key

    def drop(self, name: str) -> None:
        """Delete a detached adapter (a training that changed nothing, or failed)."""
        assert name not in self._by_name, f"{name} is cached: it leaves by eviction"
        self._delete(name)

    # -- internals ------------------------------------------------------------------------------

    def _has_adapters(self) -> bool:
        return self._peft is not None and bool(self._peft.peft_config)

    def _fix_active(self) -> None:
        """Point the PeftModel's active adapter at a loaded one.

        peft leaves `active_adapter` naming a deleted adapter when the last one goes, and its
        forward looks the active config up. Which adapter is active does not matter otherwise:
        every forward names its rows' adapters. Assigned directly, because set_adapter would also
        flip requires_grad flags, which a training in progress relies on."""
        if self._has_adapters() and self._peft.active_adapter not in self._peft.peft_config:
            self._peft.active_adapter = next(iter(self._peft.peft_config))

    def _make_room(self, extra: int) -> bool:
        while len(self._entries) + extra > self.capacity:
            victim = next((k for k, e in self._entries.items() if e.refs == 0), None)
            if victim is None:
                return False
            self._evict(victim)
        return True

    def _evict(self, key: _Key) -> None:
        entry = self._entries.pop(key)
        assert entry.refs == 0, f"evicting {key}, which {entry.refs} requests use"
        del self._by_name[entry.name]
        self._delete(entry.name)
        logger.info("evicted adapter %s revision %d (%s)", key[0], key[1], entry.name)

    def _delete(self, name: str) -> None:
        assert self._peft is not None
        self._mixed.unregister(name)
        self._peft.delete_adapter(name)
        self._fix_active()

    def _new_name(self) -> str:
        self._counter += 1
        return f"lora{self._counter}"

    def _load(self, path: str, *, trainable: bool) -> str:
        """Load the adapter at `path` under a new name; AdapterLoadError names the path."""
        check_adapter_dir(path)
        name = self._new_name()
        try:
            # no_grad, not inference_mode: a training may later need these tensors in autograd.
            with torch.no_grad(), MODEL_BUILD_LOCK:
                if self._peft is None:
                    self._peft = PeftModel.from_pretrained(self._base, path, adapter_name=name, is_trainable=trainable)
                else:
                    self._peft.load_adapter(path, adapter_name=name, is_trainable=trainable)
        except Exception as e:
            self._scrub(name)
            raise AdapterLoadError(f"Could not load the LoRA adapter in {path}: {e}") from e
        self._fix_active()
        self._mixed.hook_layers()
        self._peft.eval()
        return name

    def _scrub(self, name: str) -> None:
        """Remove whatever a failed load injected, so the base model stays clean."""
        if self._peft is not None and name in self._peft.peft_config:
            self._delete(name)
            return
        for module in self._base.modules():
            if isinstance(module, LoraLayer) and name in module.lora_A:
                module.delete_adapter(name)
        if self._peft is None and hasattr(self._base, "peft_config"):
            del self._base.peft_config  # left by the half-made PeftModel
