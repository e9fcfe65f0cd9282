"""ModelInfo, the one output shape of a model (docs/api.md: ModelInfo)."""
from datetime import datetime, timezone

from inference.model_interface import ModelInterface


def iso_ms(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z: 2025-12-28T15:23:15.632Z."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def model_info(model: ModelInterface) -> dict:
    """ModelInfo exactly as docs/api.md lists it (LoRA settings for user models only)."""
    info = {
        "name": model.name,
        "id": model.api_id,
        "description": model.description,
        "read_only": model.read_only,
    }
    if model.parent_name is not None:
        info["parent_model"] = model.parent_name
    info.update(
        revision=model.revision,
        last_modified=iso_ms(model.last_modified),
        default_model=model.default_model,
        temperature=model.temperature,
        top_p=model.top_p,
        learning_rate=model.learning_rate,
        learning_steps=model.learning_steps,
        beta=model.beta,
        epsilon=model.epsilon,
    )
    if model.lora is not None:
        info.update(rank=model.lora.rank, alpha=model.lora.alpha, dropout=model.lora.dropout,
                    target_modules=model.lora.target_modules)
    return info
