"""Input validation for the v1 model endpoints, and ModelInfo, the one output shape of a model."""
from datetime import datetime, timezone

from rest_framework import serializers

from inference.catalog import BaseModel
from inference.engine.types import TARGET_MODULES
from inference.models import TunedModel
from tigercity.fields import StrictCharField, StrictFloatField, StrictIntegerField, StrictRegexField

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"


def iso_ms(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z: 2025-12-28T15:23:15.632Z."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def model_info(model: BaseModel | TunedModel) -> dict:
    """ModelInfo exactly as API.md lists it (LoRA settings for user models only)."""
    info = {
        "name": model.name,
        "id": model.id if isinstance(model, BaseModel) else model.slug,
        "description": model.description,
        "read_only": isinstance(model, BaseModel),
    }
    if isinstance(model, TunedModel):
        info["parent_model"] = model.parent_name
    info.update(
        revision=0 if isinstance(model, BaseModel) else model.revision,
        last_modified=iso_ms(model.last_modified),
        default_model=isinstance(model, BaseModel) and model.default_model,
        temperature=model.temperature,
        top_p=model.top_p,
        learning_rate=model.learning_rate,
        learning_steps=model.learning_steps,
        beta=model.beta,
        epsilon=model.epsilon,
    )
    if isinstance(model, TunedModel):
        info.update(rank=model.rank, alpha=model.alpha, dropout=model.dropout, target_modules=model.target_modules)
    return info


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo is an error instead of a silently ignored setting."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({unknown[0]: [f"Unknown field {unknown[0]!r}."]})
        return super().to_internal_value(data)


def finite_float(**kwargs):
    return StrictFloatField(allow_null=False, **kwargs)


class GenerationDefaults(StrictSerializer):
    temperature = finite_float(required=False, min_value=0.0, max_value=2.0)
    top_p = finite_float(required=False, min_value=0.0, max_value=1.0)
    learning_rate = finite_float(required=False, min_value=0.0, max_value=1.0)
    learning_steps = StrictIntegerField(required=False, min_value=1, max_value=100)
    beta = finite_float(required=False, min_value=0.0, max_value=1e6)
    epsilon = finite_float(required=False, min_value=0.0, max_value=1.0)

    def validate_top_p(self, value):
        if value <= 0:
            raise serializers.ValidationError("top_p must be greater than 0 and at most 1.")
        return value

    def validate_learning_rate(self, value):
        if value <= 0:
            raise serializers.ValidationError("learning_rate must be greater than 0 and at most 1.")
        return value


class ModelCreateSerializer(StrictSerializer):
    name = StrictRegexField(
        NAME_REGEX, max_length=64, min_length=1,
        error_messages={"invalid": "name may use letters, digits, spaces, '.', '_' and '-', and must start "
                                   "with a letter or digit."},
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")
    parent_model = StrictCharField(max_length=128)
    rank = StrictIntegerField(required=False, min_value=1, max_value=256)
    alpha = finite_float(required=False, min_value=0.0, max_value=1e4)
    dropout = finite_float(required=False, min_value=0.0, max_value=0.9)
    learning_rate = finite_float(required=False, min_value=0.0, max_value=1.0)
    target_modules = serializers.ChoiceField(choices=sorted(TARGET_MODULES), required=False)

    validate_learning_rate = GenerationDefaults.validate_learning_rate

    def validate_alpha(self, value):
        if value <= 0:
            raise serializers.ValidationError("alpha must be greater than 0.")
        return value


class ModelUpdateSerializer(GenerationDefaults):
    description = StrictCharField(required=False, allow_blank=True, max_length=2000)
