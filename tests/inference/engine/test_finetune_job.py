"""FineTuneJob on a tiny Llama: supervised and DPO stages learn, only the trained adapter changes,
gradient accumulation does not change the result, early stopping keeps the best weights."""
import torch

from inference.engine.training.examples import PreferenceExample, SupervisedExample
from inference.engine.training.finetune_job import FineTuneJob
from inference.engine.types import AdapterRef, EarlyStopping, FineTuneRequest, FineTuneStage

from .tiny import tiny_peft

COLOURS = ["red", "blue", "green", "gold", "pink", "grey"]


def sft_examples(n):
    return tuple(SupervisedExample(({"role": "user", "content": f"Colour {i}?"},
                                    {"role": "assistant", "content": f"It is {COLOURS[i % 6]}."}), (False, True))
                 for i in range(n))


def pref_examples(n):
    return tuple(PreferenceExample(({"role": "user", "content": f"Say yes {i}"},), "Yes!", "No.") for i in range(n))


def request(stages, **kw):
    return FineTuneRequest(job_id="j", base="tiny", source=AdapterRef("k", 0, ""), dest_revision=1, dest_path="",
                           stages=stages, seed=1, **kw)


def run(job):
    steps = 0
    while not job.step():
        steps += 1
        assert not job.model.training  # generation may run between any two slices
    return job.result, steps


def state(model, name):
    return {k: v.clone() for k, v in model.state_dict().items() if f".{name}." in k or "lora" not in k}


def test_a_supervised_job_lowers_the_validation_loss_and_touches_only_its_adapter():
    model, tokenizer = tiny_peft(("user1", "user2"))
    other, base = state(model, "user2"), {k: v.clone() for k, v in model.base_model.model.state_dict().items() if "lora" not in k}
    events = []
    req = request((FineTuneStage("supervised", n_epochs=4, batch_size=4, learning_rate=3e-2),),
                  supervised_train=sft_examples(12), supervised_validation=sft_examples(3))
    result, slices = run(FineTuneJob(model, tokenizer, "user1", req, 256, lambda *e: events.append(e)))
    valid = [e[2]["valid_loss"] for e in events if e[0] == "metrics" and "valid_loss" in e[2]]
    assert len(valid) == 5 and valid[-1] < valid[0] - 0.2, valid
    assert result.steps == result.total_steps == 12 and slices >= 12
    assert result.trained_tokens > 0
    steps = [e[2]["step"] for e in events if e[0] == "metrics" and "train_loss" in e[2]]
    assert steps == list(range(1, 13))
    assert all(torch.equal(v, state(model, "user2")[k]) for k, v in other.items())
    now = model.base_model.model.state_dict()
    assert all(torch.equal(v, now[k]) for k, v in base.items())


def test_a_preference_job_raises_the_held_out_preference_accuracy():
    model, tokenizer = tiny_peft(("user1",))
    events = []
    req = request((FineTuneStage("dpo", n_epochs=3, batch_size=4, learning_rate=3e-2, beta=0.5),),
                  preference_train=pref_examples(8), preference_validation=pref_examples(4)[:3])
    result, _ = run(FineTuneJob(model, tokenizer, "user1", req, 256, lambda *e: events.append(e)))
    accuracy = [e[2]["valid_preference_accuracy"] for e in events if "valid_preference_accuracy" in e[2]]
    assert accuracy[0] == 0.0 and accuracy[-1] == 1.0, accuracy  # at the start policy == reference: no margin
    assert result.metrics["valid_reward_margin"] > 0


def test_gradient_accumulation_gives_the_weights_of_one_big_batch():
    finals = []
    for budget in (64, 100_000):
        model, tokenizer = tiny_peft(("user1",))
        req = request((FineTuneStage("supervised", n_epochs=1, batch_size=6, learning_rate=1e-2),),
                      supervised_train=sft_examples(6))
        run(FineTuneJob(model, tokenizer, "user1", req, 256, lambda *e: None, micro_batch_tokens=budget))
        finals.append(state(model, "user1"))
    assert all(torch.allclose(finals[0][k], finals[1][k], atol=1e-6) for k in finals[0])


def test_sft_then_dpo_in_one_job_and_early_stopping_keeps_the_best_step():
    model, tokenizer = tiny_peft(("user1",))
    events = []
    req = request((FineTuneStage("supervised", n_epochs=6, batch_size=4, learning_rate=50.0),
                   FineTuneStage("dpo", n_epochs=1, batch_size=4, learning_rate=1e-2)),
                  supervised_train=sft_examples(8), supervised_validation=sft_examples(2),
                  preference_train=pref_examples(4), preference_validation=pref_examples(2),
                  early_stopping=EarlyStopping(threshold=0.0, patience=1))
    result, _ = run(FineTuneJob(model, tokenizer, "user1", req, 256, lambda *e: events.append(e)))
    # A learning rate of 50 diverges: the validation loss rises and the stage stops early.
    assert result.stopped_early and result.steps == result.total_steps
    kept = [e for e in events if e[0] == "message" and "kept the weights" in e[1]]
    assert kept and any(e[0] == "message" and e[1].startswith("dpo training started") for e in events)
    assert "dpo_loss" in result.metrics and "valid_preference_accuracy" in result.metrics
