"""inference.validation.validated reuses a serializer per thread (its fields built once): what it accepts,
refuses and returns must be what a serializer built for each body gives."""
import pytest
from rest_framework.exceptions import ValidationError

from inference.validation import GenerateSerializer, TrainSerializer, validated

MESSAGES = [{"role": "user", "content": "Hello!"}]
BODIES = [
    {"model": "m", "messages": MESSAGES, "max_tokens": 1, "temperature": 0},
    {"model": "m"},
    {"model": "m", "messages": MESSAGES, "top_p": 0},
    {"model": "m", "messages": [{"role": "robot", "content": "a"}]},
    {"model": "m", "messages": MESSAGES, "typo": 1},
    {"model": "m", "messages": MESSAGES, "stream": True, "logprobs": True, "top_logprobs": 3, "stop": ["\n"]},
    {"model": "m", "messages": MESSAGES},
    [],
]


def fresh(serializer_class, body):
    serializer = serializer_class(data=body)
    return dict(serializer.validated_data) if serializer.is_valid() else serializer.errors


def reused(serializer_class, body):
    try:
        return dict(validated(serializer_class, body))
    except ValidationError as e:
        return e.detail


def test_a_reused_serializer_answers_each_body_as_a_fresh_one():
    for _ in range(2):
        for body in BODIES:
            assert reused(GenerateSerializer, body) == fresh(GenerateSerializer, body)
    train = {"model": "m", "messages": MESSAGES, "responses": [{"content": "Hi.", "reward": 1.0}]}
    assert reused(TrainSerializer, train) == fresh(TrainSerializer, train)
    assert reused(TrainSerializer, {"model": "m"}) == fresh(TrainSerializer, {"model": "m"})


def test_limits_read_from_settings_apply_to_a_reused_serializer(settings):
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 10}]}
    assert validated(GenerateSerializer, body)["messages"][0]["content"] == "x" * 10
    settings.TIGER = {**settings.TIGER, "MAX_MESSAGE_CHARS": 5}
    with pytest.raises(ValidationError) as refused:
        validated(GenerateSerializer, body)
    assert "the limit is 5" in str(refused.value.detail["messages"])
