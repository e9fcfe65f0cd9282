"""The wire format between the web tier and the engine workers (no Redis needed)."""
import msgpack
import pytest

from inference.engine import errors
from inference.engine.types import (AdapterRef, Done, Failed, Finished, GenerationRequest, LoraSpec, SamplingParams,
                                    TextDelta, TrainingGroup, TrainingParams, TrainingRequest, TrainingResult)
from inference.workers import protocol


def over_the_wire(data):
    """What channels_redis does to a message: msgpack there and back (tuples arrive as lists)."""
    return msgpack.unpackb(msgpack.packb(data))


@pytest.mark.parametrize("obj", [
    GenerationRequest("g1", "Llama-3.1-8b", ({"role": "user", "content": "hé ✓"},),
                      SamplingParams(temperature=0.0, top_p=0.5, max_tokens=9, stop=("\n", "END"), seed=3, n=2),
                      AdapterRef("key", 4, "/data/adapters/key/rev-4")),
    GenerationRequest("g2", "b", ({"role": "user", "content": "x"},)),
    TrainingRequest("t1", "b", AdapterRef("k", 0, ""), 1, "/d/rev-1",
                    (TrainingGroup(({"role": "user", "content": "q"},), ("a", "b"), (1.0, -1.0)),),
                    TrainingParams(learning_rate=1e-4, learning_steps=2), LoraSpec(rank=4, alpha=8.0)),
    TrainingResult(False, "all rewards are equal", None, None, 1.0, 0.0, None, 0, 0, 3),
    LoraSpec(rank=2, target_modules="qv"),
])
def test_requests_and_results_cross_the_wire_unchanged(obj):
    assert protocol.decode(type(obj), over_the_wire(protocol.encode(obj))) == obj


@pytest.mark.parametrize("event", [TextDelta(1, "tok"), Finished(0, "length", 7), Done(5, 9), Failed("boom", "x")])
def test_events_cross_the_wire_unchanged(event):
    assert protocol.decode_event(over_the_wire(protocol.encode(event))) == event


def test_unknown_fields_from_a_newer_sender_are_ignored():
    data = {**protocol.encode(LoraSpec()), "added_later": 1}
    assert protocol.decode(LoraSpec, data) == LoraSpec()


@pytest.mark.parametrize("error", [
    errors.ContextLengthExceeded(3000, 2048),
    errors.QueueFull(64, 64),
    errors.UnknownBaseModel("Unknown base model 'x'"),
    errors.AdapterLoadError("cannot load /a"),
    ValueError("n must be at least 1, got 0"),
])
def test_engine_errors_cross_the_wire_as_the_same_type_and_message(error):
    again = protocol.decode_error(over_the_wire(protocol.encode_error(error)))
    assert type(again) is type(error) and str(again) == str(error)
    assert vars(again) == vars(error)


def test_an_unknown_error_arrives_as_an_engine_error_with_its_message_and_code():
    class Odd(Exception):
        code = "odd_code"

    again = protocol.decode_error(over_the_wire(protocol.encode_error(Odd("strange"))))
    assert type(again) is errors.EngineError and str(again) == "strange" and again.code == "odd_code"


def test_channel_names_are_valid_and_distinct_for_any_base_name():
    assert protocol.base_channel("tc", "generate", "Llama-3.1-8b") == "tc.generate.Llama-3.1-8b"
    spaced, underscored = (protocol.base_channel("tc", "control", n) for n in ("my model", "my_model"))
    assert spaced != underscored and " " not in spaced
    with pytest.raises(ValueError, match="TIGER_WORKER_NAMESPACE"):
        protocol.base_channel("bad space", "generate", "b")
