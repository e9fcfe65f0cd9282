"""Input validation shared by the v1 API, the websocket and the Playground: one serializer per request
body, so that every way in refuses the same input with the same message."""
import threading

from django.conf import settings
from rest_framework import serializers

from inference.engine.types import TARGET_MODULES
from tigercity.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictRegexField,
)

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"


_idle = threading.local()  # per thread: {serializer class: an instance with its fields built}


def validated(serializer_class, data, **kwargs) -> dict:
    """`data` validated by `serializer_class`; raises its ValidationError (a 400 naming the field).

    Building a serializer's fields (DRF deep-copies every declared field, nested ones included) is most
    of what validating a generation's body costs (~1.4 of ~1.8 ms on a loaded 2-core machine). These
    serializers keep no state of a validation in their fields and read their limits from settings at
    each call, so an instance is reused for the next body: per thread, taken out while it validates (a
    nested call of the same class builds its own), and without other arguments (context, partial)."""
    if kwargs:
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
    idle = _idle.__dict__.setdefault("serializers", {})
    serializer = idle.pop(serializer_class, None)
    if serializer is None:
        serializer = serializer_class(data=data)
    else:
        serializer.initial_data = data
        for state in ("_validated_data", "_errors", "_data"):  # what is_valid and .data left
            serializer.__dict__.pop(state, None)
    try:
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
    finally:
        idle[serializer_class] = serializer


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


class MessageSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = StrictCharField(allow_blank=True, trim_whitespace=False)

    def validate_content(self, value):
        limit = settings.TIGER["MAX_MESSAGE_CHARS"]
        if len(value) > limit:
            raise serializers.ValidationError(f"content is {len(value)} characters long; the limit is {limit}.")
        return value


class MessagesField(serializers.ListField):
    child = MessageSerializer()

    def __init__(self, **kwargs):
        super().__init__(allow_empty=False, **kwargs)

    def to_internal_value(self, data):
        limit = settings.TIGER["MAX_MESSAGES"]
        if isinstance(data, list) and len(data) > limit:
            raise serializers.ValidationError(f"messages has {len(data)} items; the limit is {limit}.")
        return super().to_internal_value(data)


class GenerateSerializer(StrictSerializer):
    model = StrictCharField(max_length=128)
    messages = MessagesField()
    temperature = finite_float(required=False, min_value=0.0, max_value=2.0)
    top_p = finite_float(required=False, min_value=0.0, max_value=1.0)
    max_tokens = StrictIntegerField(required=False, min_value=1, max_value=1_000_000)
    stop = serializers.ListField(child=StrictCharField(min_length=1, max_length=64, trim_whitespace=False),
                                 required=False, max_length=8)
    seed = StrictIntegerField(required=False, min_value=0, max_value=2**63 - 1)
    n = StrictIntegerField(required=False, min_value=1, max_value=16)
    stream = StrictBooleanField(required=False, default=False)
    logprobs = StrictBooleanField(required=False, default=False,
                                  help_text="Return each generated token's log-probability (OpenAI's shape).")
    top_logprobs = StrictIntegerField(required=False, min_value=0, max_value=20,
                                      help_text="With logprobs: also the most likely tokens at each position.")
    reasoning = StrictBooleanField(required=False, default=False,
                                   help_text="Reasoning models: return the thinking in reasoning_content, apart "
                                             "from content (default: the text as generated).")
    revision = StrictIntegerField(required=False, min_value=0, max_value=2**31 - 1,
                                  help_text="One of your models: answer with this kept revision's weights "
                                            "(default: the current revision). Base models have none.")

    validate_top_p = GenerationDefaults.validate_top_p


class RewardedResponseSerializer(StrictSerializer):
    content = StrictCharField(allow_blank=True, trim_whitespace=False)
    reward = finite_float(min_value=-1e6, max_value=1e6)

    validate_content = MessageSerializer.validate_content


class ExampleSerializer(StrictSerializer):
    messages = MessagesField()
    responses = serializers.ListField(child=RewardedResponseSerializer(), min_length=1, max_length=32)


class TrainSerializer(StrictSerializer):
    model = StrictCharField(max_length=128)
    messages = MessagesField(required=False)
    responses = serializers.ListField(child=RewardedResponseSerializer(), min_length=1, max_length=32,
                                      required=False)
    examples = serializers.ListField(child=ExampleSerializer(), min_length=1, max_length=64, required=False)
    learning_rate = finite_float(required=False, min_value=0.0, max_value=1.0)
    learning_steps = StrictIntegerField(required=False, min_value=1, max_value=100)
    beta = finite_float(required=False, min_value=0.0, max_value=1e6)
    epsilon = finite_float(required=False, min_value=0.0, max_value=1.0)

    validate_learning_rate = GenerationDefaults.validate_learning_rate

    def validate(self, data):
        single = "messages" in data or "responses" in data
        if single and "examples" in data:
            raise serializers.ValidationError({"examples": ["Send either messages + responses or examples, not both."]})
        if not single and "examples" not in data:
            raise serializers.ValidationError({"messages": ["This field is required (or send examples)."]})
        for field in ("messages", "responses"):
            if single and field not in data:
                raise serializers.ValidationError({field: ["This field is required."]})
        if single:
            data["examples"] = [{"messages": data.pop("messages"), "responses": data.pop("responses")}]
        return data
