"""LoRA adapter directories: the LoRA config of a user model, revision 0, copies, checks.

An adapter directory is a standard PEFT one (adapter_config.json + adapter_model.safetensors), so
`peft.PeftModel.from_pretrained` loads it on the real base checkpoint outside TigerCity too. The
adapters loaded on the device live in adapter_cache.py.
"""
from __future__ import annotations

import copy
import math
import secrets
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from ..checkpoint import MODEL_BUILD_LOCK
from ..errors import AdapterLoadError
from ..files import CONFIG_NAME, WEIGHTS_NAME, atomic_directory, copy_directory
from ..types import TARGET_MODULES, LoraSpec



def lora_config(spec: LoraSpec, *, base_model_name_or_path: str | None = None) -> LoraConfig:
    """The peft LoraConfig of a user model's LoRA settings (B starts at zero: init_lora_weights)."""
    if spec.target_modules not in TARGET_MODULES:
        raise ValueError(f"target_modules must be one of {sorted(TARGET_MODULES)}, got {spec.target_modules!r}")
    return LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=list(TARGET_MODULES[spec.target_modules]),
        task_type="CAUSAL_LM",
        base_model_name_or_path=base_model_name_or_path,
    )


def write_initial_adapter(
    model_config, spec: LoraSpec, dest_path: str, *, base_name: str | None = None, seed: int | None = None
) -> None:
    """Write revision 0 of a new user model to `dest_path` (atomically; it must not exist yet).

    LoRA A is random (peft's kaiming init, so training has a gradient), LoRA B is zero, so the
    adapter generates exactly what its base generates. Needs only the base's config: the module
    names and shapes come from a weightless model on the meta device. `seed` fixes A (tests)."""
    config = lora_config(spec, base_model_name_or_path=base_name)
    shapes = _lora_shapes(model_config, config)
    gen = torch.Generator().manual_seed(secrets.randbits(63) if seed is None else seed)
    tensors = {}
    for key, shape in shapes.items():
        tensor = torch.zeros(shape, dtype=torch.float32)  # lora_B: (out_features, r)
        if ".lora_A." in key:  # (r, in_features), as peft's reset_lora_parameters does it
            torch.nn.init.kaiming_uniform_(tensor, a=math.sqrt(5), generator=gen)
        tensors[key] = tensor
    config.inference_mode = True  # what peft's save_pretrained writes
    with atomic_directory(dest_path) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        config.save_pretrained(str(tmp))


def copy_adapter(source_path: str, dest_path: str) -> None:
    """Copy an adapter directory (a copy of a user model copies its weights), atomically."""
    check_adapter_dir(source_path)
    copy_directory(source_path, dest_path)


def check_adapter_dir(path: str) -> None:
    """Raise AdapterLoadError naming `path` unless it is a safetensors PEFT adapter directory.

    Checked before peft sees the path: peft would otherwise try the Hub, or unpickle a .bin."""
    root = Path(path)
    if not (root / CONFIG_NAME).is_file():
        raise AdapterLoadError(f"No {CONFIG_NAME} in adapter directory {path}")
    if not (root / WEIGHTS_NAME).is_file():
        raise AdapterLoadError(f"No {WEIGHTS_NAME} in adapter directory {path} (pickled weights are never loaded)")


def _lora_shapes(model_config, config: LoraConfig) -> dict[str, tuple[int, ...]]:
    """Saved-state-dict key -> shape of every LoRA tensor peft would create for `config`."""
    with MODEL_BUILD_LOCK:
        with torch.device("meta"):
            meta = AutoModelForCausalLM.from_config(model_config, trust_remote_code=False)
        config = copy.deepcopy(config)
        config.base_model_name_or_path = None  # (peft warns when it renames it to the meta model's)
        peft_model = get_peft_model(meta, config, low_cpu_mem_usage=True)
    state = get_peft_model_state_dict(peft_model, save_embedding_layers=False)
    assert state, "the LoRA target modules matched nothing in the base model"
    return {key: tuple(t.shape) for key, t in state.items()}
