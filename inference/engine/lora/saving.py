"""Saving an adapter revision: a standard PEFT adapter directory (adapter_config.json +
adapter_model.safetensors) that `peft.PeftModel.from_pretrained(base, path)` loads, written
atomically through files.atomic_directory. Reconciliation and export are in files.py (no torch).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file

from ..files import WEIGHTS_NAME, atomic_directory


def write_revision(peft_model, adapter_name: str, dest_path: str | os.PathLike) -> Path:
    """Save one adapter of `peft_model` as a PEFT adapter directory at `dest_path`, atomically.

    Raises FileExistsError if `dest_path` exists (even empty). The parent directory is created if
    needed. Returns the destination.
    """
    if adapter_name not in peft_model.peft_config:
        raise ValueError(f"adapter {adapter_name!r} is not loaded (loaded: {sorted(peft_model.peft_config)})")
    with atomic_directory(dest_path) as tmp:
        _write_adapter_files(peft_model, adapter_name, tmp)
    return Path(dest_path)


def _write_adapter_files(peft_model, adapter_name: str, directory: Path) -> None:
    """What `PeftModel.save_pretrained` writes for one adapter, without its README or its habit of
    nesting non-"default" adapters in a sub-directory."""
    state = get_peft_model_state_dict(peft_model, adapter_name=adapter_name, save_embedding_layers=False)
    # Own, contiguous CPU copies: safetensors refuses shared or strided storage.
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    config = copy.deepcopy(peft_model.peft_config[adapter_name])
    config.inference_mode = True  # as save_pretrained does: a loaded revision is frozen by default
    if config.base_model_name_or_path is None:
        config.base_model_name_or_path = getattr(peft_model.base_model.model, "name_or_path", None) or None
    config.save_pretrained(str(directory))
