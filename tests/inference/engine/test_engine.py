"""The engine façade: finish reasons, cancellation, limits and errors."""
import shutil
import threading

import pytest

from inference.engine.config import EngineConfig
from inference.engine.serving.engine import Engine
from inference.engine.errors import CheckpointError, ContextLengthExceeded, EngineUnavailable, QueueFull, UnknownBaseModel
from inference.engine.serving.request import RequestState, SequenceState
from inference.engine.types import AdapterRef, GenerationRequest

from .conftest import Stream, request, submitted_together
from .tiny import CONTEXT, tiny_tokenizer


def test_max_tokens_ends_with_length(run):
    stream = run("Hello there", max_tokens=7)
    assert stream.finished().finish_reason == "length"
    assert stream.finished().completion_tokens == 7
    assert stream.last.completion_tokens == 7 and stream.last.prompt_tokens > 0


def test_a_stop_string_ends_with_stop_and_nothing_from_it_on_is_emitted(run):
    text = run("Hello there", max_tokens=40).text()
    start = next(i for i in range(4, len(text) - 2) if "\ufffd" not in text[i:i + 2])
    stop = text[start:start + 2]
    stream = run("Hello there", max_tokens=40, stop=("never-generated", stop))
    assert stream.text() == text[: text.find(stop)]
    assert stream.finished().finish_reason == "stop"


def test_eos_ends_with_stop_and_flushes_held_back_text():
    tok = tiny_tokenizer()
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    state = RequestState(request("x", stop=("ab",)), lambda e: None, [1, 2, 3], max_tokens=10)
    seq = SequenceState(state, 0, tok, frozenset({eot}), generator=None)
    a = tok.convert_tokens_to_ids("a")
    assert seq.accept(a) == ""  # "a" could start the stop string "ab"
    assert seq.accept(eot) == "a" and seq.finish_reason == "stop" and seq.num_tokens == 2


def test_the_same_seed_gives_the_same_output_and_another_seed_another(run):
    outputs = [run("Once upon a time", temperature=1.0, top_p=0.9, seed=s, max_tokens=16).text() for s in (3, 3, 4)]
    assert outputs[0] == outputs[1] != outputs[2]


def test_context_overflow_raises_before_anything_streams_with_both_numbers(engine):
    stream = Stream()
    with pytest.raises(ContextLengthExceeded) as info:
        engine.submit(request("x" * 300), stream)
    prompt_tokens = engine.count_prompt_tokens("tiny", [{"role": "user", "content": "x" * 300}])
    assert info.value.prompt_tokens == prompt_tokens and info.value.context_length == CONTEXT
    assert str(prompt_tokens) in str(info.value) and str(CONTEXT) in str(info.value)
    assert stream.events == []


def test_max_tokens_beyond_the_context_is_clamped(run, engine):
    stream = run("y" * 180, max_tokens=10_000)
    done = stream.last
    assert done.prompt_tokens + done.completion_tokens <= CONTEXT
    if stream.finished().finish_reason == "length":
        assert done.prompt_tokens + done.completion_tokens == CONTEXT


def test_an_unknown_base_model_is_refused(engine):
    with pytest.raises(UnknownBaseModel):
        engine.submit(GenerationRequest(request_id="r", base="nope", messages=({"role": "user", "content": "hi"},)), Stream())


def test_cancellation_frees_the_slot_and_stops_tokens(make_engine):
    engine = make_engine(max_batch_size=1)
    first_delta, cancelled = threading.Event(), threading.Event()
    stream = Stream()

    def on_event(event):  # on the engine's thread: holding it here keeps "long" running until it is cancelled
        stream(event)
        if event.kind == "delta" and not first_delta.is_set():
            first_delta.set()
            cancelled.wait(60)

    engine.submit(request("Hello there", request_id="long", max_tokens=200), on_event)
    waiting = Stream()
    engine.submit(request("Hi", request_id="next", max_tokens=5), waiting)  # needs the only slot
    assert first_delta.wait(10)
    engine.cancel("long")
    cancelled.set()
    stream.wait()
    finished = stream.finished()
    assert finished.finish_reason == "cancelled" and finished.completion_tokens < 200
    assert stream.last.kind == "done"
    count = len(stream.events)
    # the slot went to the next request: the loop ran on after the cancellation, and "long" got nothing more
    assert waiting.wait().last.kind == "done"
    assert len(stream.events) == count, "no token after the cancellation"


def test_cancelling_a_waiting_request_finishes_it_at_once(make_engine):
    engine = make_engine(max_batch_size=1)
    running, waiting = Stream(), Stream()
    with submitted_together(engine._loop("tiny")):
        engine.submit(request("Hello", request_id="a", max_tokens=150), running)
        engine.submit(request("Hi", request_id="b", max_tokens=5), waiting)
        engine.cancel("b")
    waiting.wait()
    assert [e.kind for e in waiting.events] == ["finished", "done"]
    assert waiting.finished().finish_reason == "cancelled" and waiting.finished().completion_tokens == 0
    engine.cancel("a")
    running.wait()


def test_the_waiting_queue_has_a_limit(make_engine):
    engine = make_engine(max_queue=1)
    first = Stream()
    with submitted_together(engine._loop("tiny")):
        engine.submit(request(request_id="a"), first)
        with pytest.raises(QueueFull) as info:
            engine.submit(request(request_id="b"), Stream())
    assert info.value.waiting == 1 and info.value.limit == 1
    first.wait()


def test_a_request_whose_adapter_cannot_load_fails_alone_and_the_loop_keeps_serving(engine, tmp_path, run):
    missing = AdapterRef(key="gone", revision=3, path=str(tmp_path / "gone"))
    failed = Stream()
    engine.submit(request(request_id="bad", adapter=missing), failed)
    assert failed.wait().last.kind == "failed"
    assert failed.last.code == "adapter_load_failed" and str(tmp_path / "gone") in failed.last.message
    assert run("Hello", request_id="good").last.kind == "done"


def test_an_exception_in_a_decode_step_fails_the_batch_and_the_loop_keeps_serving(engine, run):
    run("warm up")  # loads the weights
    runner = engine._loop("tiny").runner
    real_decode = runner.decode

    def broken(batch):
        runner.decode = real_decode
        raise RuntimeError("device fell over")

    runner.decode = broken
    stream = Stream()
    engine.submit(request("Hello", request_id="unlucky", max_tokens=20), stream)
    assert stream.wait().last.kind == "failed" and "device fell over" in stream.last.message
    assert run("Hello", request_id="lucky").last.kind == "done"


def test_a_callback_that_raises_cancels_only_its_request(engine, run):
    def explode(event):
        raise ValueError("consumer bug")

    engine.submit(request("Hello", request_id="bad", max_tokens=50), explode)
    assert run("Hello", request_id="good").last.kind == "done"
    worker = engine._loop("tiny")
    assert len(worker.batch) == 0 and not worker._active


def test_a_request_id_cannot_run_twice_at_once(make_engine):
    engine = make_engine()
    first = Stream()
    with submitted_together(engine._loop("tiny")):
        engine.submit(request(request_id="same"), first)
        with pytest.raises(ValueError, match="same"):
            engine.submit(request(request_id="same"), Stream())
    first.wait()


def test_shutdown_fails_what_is_in_flight_and_refuses_new_requests(make_engine):
    engine = make_engine()
    stream = Stream()
    engine.submit(request("Hello", request_id="long", max_tokens=200), stream)
    engine.shutdown()
    assert stream.wait().last.kind == "failed" and stream.last.code == "engine_unavailable"
    with pytest.raises(EngineUnavailable):
        engine.submit(request("Hello", request_id="late"), Stream())


def test_weights_that_fail_to_load_fail_the_queued_requests_and_then_refuse_at_once(checkpoint_dir, tmp_path,
                                                                                    monkeypatch):
    from inference.engine.serving import base_loop

    broken = tmp_path / "broken"
    shutil.copytree(checkpoint_dir, broken)
    for f in broken.glob("*.safetensors"):
        f.write_bytes(b"garbage")
    # The load starts with the first submit, on the engine thread: it fails only once that request is
    # queued (else it could fail first, and the submit would raise instead of queueing).
    queued = threading.Event()
    real_load = base_loop.load_checkpoint
    monkeypatch.setattr(base_loop, "load_checkpoint", lambda *a, **kw: (queued.wait(30), real_load(*a, **kw))[1])
    engine = Engine({"tiny": str(broken)}, EngineConfig(device="cpu"))
    try:
        stream = Stream()
        engine.submit(request("Hello"), stream)
        queued.set()
        assert stream.wait().last.kind == "failed" and stream.last.code == "checkpoint_invalid"
        assert not engine.is_ready("tiny")
        with pytest.raises(CheckpointError, match=str(broken)):
            engine.submit(request("Hello", request_id="again"), Stream())
    finally:
        engine.shutdown()
