"""The one interface of a model, base or user model alike.

catalog.BaseModel (configuration) and models.TunedModel (a row) both have these members, so that code
asks a model what it needs instead of asking which type it is; tests/inference/test_interfaces.py
checks both against this protocol.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from inference.engine.types import LoraSpec


@runtime_checkable
class ModelInterface(Protocol):
    name: str
    api_id: str  # the API's `id`: the name lower-cased, spaces to '-'
    description: str
    read_only: bool  # True for base models: no training, no changes, no deletion
    revision: int  # 0 for a base model
    base_name: str  # the base model at the root of its ancestry (itself for a base model)
    parent_name: str | None  # what its parent was called when it was created; None for a base model
    default_model: bool  # the model the Playground selects at startup (one base model)
    lora: LoraSpec | None  # its adapter's settings; None for a base model (no adapter)
    last_modified: datetime
    # Generation and training defaults, used when a request gives none.
    temperature: float
    top_p: float
    learning_rate: float
    learning_steps: int
    beta: float
    epsilon: float

    def child_lora(self, *, rank: int | None = None, alpha: float | None = None, dropout: float | None = None,
                   target_modules: str | None = None) -> LoraSpec:
        """The LoRA settings of a model created from this one, given what the caller asked for."""

    def child_defaults(self) -> dict:
        """The generation and training defaults of a model created from this one."""
