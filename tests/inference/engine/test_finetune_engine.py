"""engine.finetune: a job runs on the base's thread between decode steps, writes its revision on
success, and on cancel writes nothing and leaves no adapter behind."""
import threading

import pytest

from inference.engine.errors import FineTuneCancelled
from inference.engine.training.examples import SupervisedExample
from inference.engine.types import AdapterRef, FineTuneRequest, FineTuneStage, LoraSpec

from .tiny import BASE

EXAMPLES = tuple(SupervisedExample(({"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": "A."}),
                                   (False, True)) for i in range(6))


def job(dest, job_id="j1", epochs=2):
    return FineTuneRequest(job_id=job_id, base=BASE, source=AdapterRef("m", 0, ""), dest_revision=1,
                           dest_path=str(dest), lora=LoraSpec(rank=2, alpha=4.0, dropout=0.0),
                           stages=(FineTuneStage("supervised", n_epochs=epochs, batch_size=2, learning_rate=1e-2),),
                           supervised_train=EXAMPLES[:4], supervised_validation=EXAMPLES[4:])


def test_a_job_writes_its_revision_and_reports_progress(engine, tmp_path, run):
    events = []
    result = engine.finetune(job(tmp_path / "rev-1"), events.append).result(timeout=120)
    assert result.steps == 4 and (tmp_path / "rev-1" / "adapter_model.safetensors").exists()
    assert [e.data["step"] for e in events if e.type == "metrics" and "train_loss" in e.data] == [1, 2, 3, 4]
    assert ("m", 1) in engine._loop(BASE).adapters.loaded()
    run("Hi", adapter=AdapterRef("m", 1, str(tmp_path / "rev-1")))  # served from the cache


def test_a_cancelled_job_writes_nothing(engine, tmp_path):
    started, cancelled = threading.Event(), threading.Event()

    def on_event(event):  # on the engine's thread: holding it here keeps j1 running until it is cancelled
        if event.type == "metrics" and not started.is_set():
            started.set()
            cancelled.wait(60)

    future = engine.finetune(job(tmp_path / "rev-1", epochs=50), on_event)
    queued = engine.finetune(job(tmp_path / "other", job_id="j2"), lambda e: None)
    assert started.wait(60)
    assert engine.cancel_finetune("j2")  # waiting: cancelled at once
    with pytest.raises(FineTuneCancelled):
        queued.result(timeout=5)
    assert engine.cancel_finetune("j1")
    cancelled.set()
    with pytest.raises(FineTuneCancelled):
        future.result(timeout=60)
    assert not (tmp_path / "rev-1").exists() and not (tmp_path / "other").exists()
    adapters = engine._loop(BASE).adapters
    assert set(adapters.peft_model.peft_config) <= set(adapters._by_name)  # the job's adapter is gone
    assert not engine.cancel_finetune("j1")


def test_a_job_from_an_untouched_revision_0_is_reproducible_from_its_seed(engine, tmp_path):
    """Revision 0 never written has no LoRA A on disk: the job's seed draws it, not whatever the process's
    random generator went through before (a benchmark found one seed giving three validation losses)."""
    import torch
    from safetensors.torch import load_file

    results = []
    for i, noise in enumerate((0, 7)):
        torch.rand(noise)  # other work that used the global generator in between
        req = job(tmp_path / f"rev-{i}")
        results.append(engine.finetune(req, lambda e: None).result(timeout=120))
    assert results[0].metrics == results[1].metrics
    first, second = (load_file(tmp_path / f"rev-{i}" / "adapter_model.safetensors") for i in (0, 1))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
