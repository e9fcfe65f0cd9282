"""The base models: built from settings.TIGER["BASE_MODELS"], always including the two of the contract.

A base model without a configured checkpoint runs the built-in demo weights shipped in
inference/engine/demo/weights/ (tiny models of the same architecture) and says so in its description.
"""
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from inference.engine import defaults
from inference.engine.types import LoraSpec

DEMO_DIR = Path(__file__).resolve().parent / "engine" / "demo" / "weights"
DEMO_NOTE = (
    " Running built-in demo weights (a tiny model for trying TigerCity, not the real checkpoint); "
    "set TIGER_BASE_MODELS to a checkpoint directory to serve the real model."
)

BUILTIN = {
    "Llama-3.1-8b": {
        "description": "Multilingual large language model from Meta",
        "demo": "llama-3.1-8b-demo",
    },
    "DeepSeek-R1-8b": {
        "description": "LLM for advanced reasoning, math, and code tasks.",
        "demo": "deepseek-r1-8b-demo",
    },
}


def model_id(name: str) -> str:
    """The API `id` of a name: lower-cased, spaces to '-' (`MyCustomModel` -> `mycustommodel`)."""
    return name.strip().lower().replace(" ", "-")


@dataclass(frozen=True)
class BaseModel:
    """A base model: configuration, not a row. It has the model interface (model_interface.py)."""

    name: str
    description: str
    checkpoint: str  # a Hugging Face checkpoint directory
    is_demo: bool
    default_model: bool
    temperature: float
    top_p: float
    learning_rate: float
    learning_steps: int
    beta: float
    epsilon: float
    rank: int  # the default LoRA rank of models created from this base

    read_only = True
    revision = 0
    parent_name = None
    lora = None  # no adapter: the base weights themselves

    @property
    def id(self) -> str:
        return model_id(self.name)

    @property
    def api_id(self) -> str:
        return self.id

    @property
    def base_name(self) -> str:
        return self.name

    def child_lora(self, *, rank: int | None = None, alpha: float | None = None, dropout: float | None = None,
                   target_modules: str | None = None) -> LoraSpec:
        """The LoRA settings of a model created from this base: what the caller gave, else the defaults
        (this base's rank, alpha twice the rank)."""
        rank = self.rank if rank is None else rank
        return LoraSpec(rank=rank, alpha=alpha, dropout=defaults.LORA_DROPOUT if dropout is None else dropout,
                        target_modules=target_modules or defaults.LORA_TARGET_MODULES)

    def child_defaults(self) -> dict:
        """The generation and training defaults of a model created from this base (its learning rate)."""
        return {**defaults.NEW_MODEL, "learning_rate": self.learning_rate}

    @property
    def last_modified(self) -> datetime:
        config = Path(self.checkpoint) / "config.json"
        try:
            return datetime.fromtimestamp(config.stat().st_mtime, tz=timezone.utc)
        except OSError:
            return datetime(2025, 1, 1, tzinfo=timezone.utc)


def _entry(name: str, raw) -> BaseModel:
    builtin = BUILTIN.get(name, {})
    options = {"path": raw} if isinstance(raw, str) else dict(raw or {})
    path = options.pop("path", "") or ""
    description = options.pop("description", builtin.get("description", ""))
    is_demo = not path
    if is_demo:
        if "demo" not in builtin:
            raise ImproperlyConfigured(f"TIGER_BASE_MODELS[{name!r}] needs a checkpoint path.")
        path = str(DEMO_DIR / builtin["demo"])
        description = description.rstrip(".") + "." + DEMO_NOTE
    unknown = set(options) - set(defaults.BASE_MODEL)
    if unknown:
        raise ImproperlyConfigured(f"TIGER_BASE_MODELS[{name!r}] has unknown keys: {sorted(unknown)}")
    values = {**defaults.BASE_MODEL, **options}
    return BaseModel(
        name=name,
        description=description,
        checkpoint=path,
        is_demo=is_demo,
        default_model=False,
        **values,
    )


@lru_cache(maxsize=1)
def _catalog(config_key: str) -> dict[str, BaseModel]:
    configured = settings.TIGER["BASE_MODELS"]
    if not isinstance(configured, dict):
        raise ImproperlyConfigured("TIGER_BASE_MODELS must be a JSON object: name -> checkpoint directory.")
    names = list(BUILTIN) + [n for n in configured if n not in BUILTIN]
    models = {}
    for name in names:
        model = _entry(name, configured.get(name))
        models[model.id] = model
    default = model_id(settings.TIGER["DEFAULT_MODEL"])
    if default not in models:
        raise ImproperlyConfigured(f"TIGER_DEFAULT_MODEL {settings.TIGER['DEFAULT_MODEL']!r} is not a base model.")
    models[default] = replace(models[default], default_model=True)
    return models


def base_models() -> list[BaseModel]:
    """The base models in catalog order."""
    return list(_catalog(repr(settings.TIGER["BASE_MODELS"]) + settings.TIGER["DEFAULT_MODEL"]).values())


def base_model(ref: str) -> BaseModel | None:
    """The base model called `ref` (name or id, any case), or None."""
    return next((m for m in base_models() if m.id == model_id(ref) or m.name.lower() == ref.strip().lower()), None)
