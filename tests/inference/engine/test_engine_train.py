"""engine.train: a training runs on the engine thread between decode steps, from a fresh copy of its
source revision, and the revision it writes is served from the adapter cache afterwards."""
import filecmp
from concurrent.futures import Future

import pytest
import torch
from safetensors.torch import load_file

from inference.engine.training import session
from inference.engine.files import WEIGHTS_NAME as WEIGHTS_FILE
from inference.engine.types import AdapterRef, LoraSpec, TrainingGroup, TrainingParams, TrainingRequest

from .conftest import Stream, request, submitted_together
from .tiny import BASE

CONTEXT = ({"role": "user", "content": "Is the sky blue?"},)
SIGNAL = (TrainingGroup(CONTEXT, ("Yes, it is blue.", "No."), (1.0, -1.0)),)
FAST = TrainingParams(learning_rate=1e-2, learning_steps=3)


def training(source: AdapterRef, dest, groups=SIGNAL, **kw) -> TrainingRequest:
    return TrainingRequest(request_id="t", base=BASE, source=source, dest_revision=source.revision + 1,
                           dest_path=str(dest), groups=groups, params=FAST, **kw)


def test_a_training_writes_a_new_revision_and_the_cache_serves_it(engine, adapter_factory, tmp_path, run):
    source = adapter_factory("a", seed=1)
    result = engine.train(training(source, tmp_path / "rev-1")).result(timeout=60)
    assert result.changed and result.steps == 3
    before, after = load_file(f"{source.path}/{WEIGHTS_FILE}"), load_file(tmp_path / "rev-1" / WEIGHTS_FILE)
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)

    worker = engine._loop(BASE)
    assert ("a", 1) in worker.adapters.loaded()  # adopted: the next request needs no load
    names = set(worker.adapters.peft_model.peft_config)
    run("Hi", adapter=AdapterRef(key="a", revision=1, path=str(tmp_path / "rev-1")))
    assert set(worker.adapters.peft_model.peft_config) == names
    assert not worker.adapters.module.training


def test_a_training_without_signal_changes_nothing_and_leaves_no_adapter_behind(engine, adapter_factory, tmp_path, run):
    source = adapter_factory("a", seed=1)
    run("Hi", adapter=source)
    flat = (TrainingGroup(CONTEXT, ("x", "y"), (0.5, 0.5)),)
    result = engine.train(training(source, tmp_path / "rev-1", groups=flat)).result(timeout=60)
    assert not result.changed and result.reason
    assert not (tmp_path / "rev-1").exists()
    assert len(engine._loop(BASE).adapters.peft_model.peft_config) == 1


def test_an_untouched_revision_zero_trains_from_its_lora_settings(engine, tmp_path):
    source = AdapterRef(key="new", revision=0, path="")
    spec = LoraSpec(rank=2, alpha=4.0, dropout=0.0, target_modules="qv")
    result = engine.train(training(source, tmp_path / "rev-1", lora=spec)).result(timeout=60)
    assert result.changed
    assert len(load_file(tmp_path / "rev-1" / WEIGHTS_FILE)) == 2 * 2 * 2  # A, B; q, v; 2 layers


def test_generations_keep_streaming_during_a_training_and_their_revision_keeps_its_weights(
    engine, adapter_factory, tmp_path, monkeypatch
):
    source = adapter_factory("a", seed=1)
    alone = Stream()
    engine.submit(request("Hello there", request_id="g", adapter=source, max_tokens=60), alone)
    alone.wait()

    worker = engine._loop(BASE)
    steps_seen = []  # decode steps done when each training unit ran
    real_job = session.TrainingSession.step

    def spy(self, *args):
        steps_seen.append(worker.stats["decode_steps"])
        return real_job(self, *args)

    monkeypatch.setattr(session.TrainingSession, "step", spy)
    stream = Stream()
    with submitted_together(worker):
        engine.submit(request("Hello there", request_id="g", adapter=source, max_tokens=60), stream)
        future = engine.train(training(source, tmp_path / "rev-1"))
    assert future.result(timeout=60).changed
    stream.wait()
    assert stream.text() == alone.text() and stream.last.completion_tokens == alone.last.completion_tokens
    assert len(steps_seen) >= 4 and steps_seen == sorted(set(steps_seen)), "one unit per decode step"
    assert filecmp.cmp(f"{source.path}/{WEIGHTS_FILE}", adapter_factory("a", seed=1).path + f"/{WEIGHTS_FILE}")


def test_a_failing_training_fails_its_future_drops_its_adapter_and_the_loop_keeps_serving(
    engine, adapter_factory, tmp_path, run
):
    source = adapter_factory("a", seed=1)
    run("Hi", adapter=source)
    bad = training(source, tmp_path / "rev-1", groups=(TrainingGroup(CONTEXT, ("x",), ()),))  # no reward
    with pytest.raises(ValueError, match="reward"):
        engine.train(bad).result(timeout=60)
    worker = engine._loop(BASE)
    assert len(worker.adapters.peft_model.peft_config) == 1
    assert run("Hi", adapter=source).last.kind == "done"


def test_a_training_cancelled_before_it_starts_does_nothing(engine, adapter_factory, tmp_path):
    source = adapter_factory("a", seed=1)
    with submitted_together(engine._loop(BASE)):
        future: Future = engine.train(training(source, tmp_path / "rev-1"))
        assert future.cancel()
    later = engine.train(training(source, tmp_path / "rev-2"))
    assert later.result(timeout=60).changed
    assert not (tmp_path / "rev-1").exists()


def test_the_training_queue_of_a_base_is_bounded(make_engine, tmp_path):
    from inference.engine.errors import QueueFull

    engine = make_engine(max_queue=0)
    group = TrainingGroup(messages=({"role": "user", "content": "Hi"},), responses=("a", "b"), rewards=(1.0, 0.0))
    with pytest.raises(QueueFull):
        engine.train(TrainingRequest(request_id="t", base=BASE, source=AdapterRef("m", 0, ""), dest_revision=1,
                                     dest_path=str(tmp_path / "rev-1"), groups=(group,), lora=LoraSpec(rank=2)))
