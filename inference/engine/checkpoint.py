"""Load a base model from a Hugging Face checkpoint directory: safetensors only, no remote code.

Two stages, because the web side needs the tokenizer long before (and without) the weights:
`inspect_checkpoint` reads config + tokenizer (fast, no weights), `load_checkpoint` adds the model.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from .errors import CheckpointError

logger = logging.getLogger(__name__)

# Never touch the network and never run code shipped with a checkpoint.
_SAFE = {"trust_remote_code": False, "local_files_only": True}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself, without its weights."""

    path: str
    config: Any  # transformers PretrainedConfig
    tokenizer: Any  # transformers tokenizer with a chat template
    context_length: int  # max_position_embeddings, capped by the engine's max_context_length
    eos_token_ids: frozenset[int]  # generation_config's eos ids plus the tokenizer's


@dataclass(frozen=True)
class Checkpoint:
    """A loaded base model. `tokenizer` is a separate instance from `info.tokenizer`: the engine
    thread decodes with this one while other threads render prompts with the other."""

    info: CheckpointInfo
    model: torch.nn.Module  # eval mode, requires_grad False
    tokenizer: Any
    device: torch.device

    @property
    def context_length(self) -> int:
        return self.info.context_length

    @property
    def eos_token_ids(self) -> frozenset[int]:
        return self.info.eos_token_ids


def resolve_device(device: str | None) -> torch.device:
    """The requested device, or CUDA when present, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """The requested dtype, or bf16 on CUDA and fp32 on the CPU (bf16 matmuls are slow there)."""
    if dtype:
        value = getattr(torch, dtype, None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}")
        return value
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def inspect_checkpoint(path: str, *, max_context_length: int | None = None) -> CheckpointInfo:
    """Read a checkpoint's config, tokenizer and generation config; raise CheckpointError naming
    the path when the directory is not a usable safetensors checkpoint."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"Checkpoint directory {path} does not exist")
    if not (root / "config.json").is_file():
        raise CheckpointError(f"Checkpoint directory {path} has no config.json")
    if not any(root.glob("*.safetensors")):
        raise CheckpointError(
            f"Checkpoint directory {path} has no *.safetensors weights (pickled weights are never loaded)"
        )
    try:
        config = AutoConfig.from_pretrained(path, **_SAFE)
        tokenizer = load_tokenizer(path)
    except Exception as e:
        raise CheckpointError(f"Could not read the checkpoint in {path}: {e}") from e
    if not getattr(tokenizer, "chat_template", None):
        raise CheckpointError(f"The tokenizer in {path} has no chat template")

    context_length = getattr(config.get_text_config(), "max_position_embeddings", None)
    if not context_length:
        raise CheckpointError(f"The config in {path} has no max_position_embeddings")
    if max_context_length:
        context_length = min(context_length, max_context_length)
    return CheckpointInfo(
        path=str(path),
        config=config,
        tokenizer=tokenizer,
        context_length=int(context_length),
        eos_token_ids=_eos_token_ids(root, config, tokenizer),
    )


def load_tokenizer(path: str):
    """The checkpoint's tokenizer (local files only)."""
    return AutoTokenizer.from_pretrained(path, **_SAFE)


# transformers builds models under process-wide patches (meta-device init, parameter hooks): two
# threads building models at once (one engine thread loading a base while a request thread lays out
# a new adapter on a meta copy) corrupt each other's parameters. Every model construction takes this.
MODEL_BUILD_LOCK = threading.Lock()


def load_checkpoint(
    path: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    max_context_length: int | None = None,
    info: CheckpointInfo | None = None,
) -> Checkpoint:
    """Load config, tokenizer and safetensors weights; the model lands on `device` in eval mode."""
    info = info or inspect_checkpoint(path, max_context_length=max_context_length)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    try:
        with MODEL_BUILD_LOCK:
            model = AutoModelForCausalLM.from_pretrained(
                info.path,
                config=info.config,
                dtype=torch_dtype,
                use_safetensors=True,
                # Straight onto the GPU: an 8B model staged in CPU RAM first would need 16-32 GB there.
                device_map=str(dev) if dev.type != "cpu" else None,
                **_SAFE,
            )
        tokenizer = load_tokenizer(info.path)
    except Exception as e:
        raise CheckpointError(f"Could not load the weights in {info.path}: {e}") from e
    if dev.type == "cpu":
        model.to(dev)
    model.eval()
    model.requires_grad_(False)
    logger.info("loaded %s on %s (%s, context %d)", info.path, dev, torch_dtype, info.context_length)
    return Checkpoint(info=info, model=model, tokenizer=tokenizer, device=dev)


def _eos_token_ids(root: Path, config, tokenizer) -> frozenset[int]:
    """Every id that ends a turn: Llama-3.1-Instruct lists three in generation_config.json."""
    ids: set[int] = set()
    candidates = [getattr(tokenizer, "eos_token_id", None), getattr(config, "eos_token_id", None)]
    if (root / "generation_config.json").is_file():
        try:
            candidates.append(GenerationConfig.from_pretrained(str(root), **_SAFE).eos_token_id)
        except Exception as e:  # a broken generation config must not hide the model
            logger.warning("ignoring the generation config in %s: %s", root, e)
    for value in candidates:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if not ids:
        raise CheckpointError(f"The checkpoint in {root} names no end-of-sequence token")
    return frozenset(ids)
