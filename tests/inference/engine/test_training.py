"""RewardUpdate on a tiny random Llama with LoRA: it learns from rewards, touches only its adapter,
leaves the model ready for generation between steps, and does nothing when there is no signal."""
import torch

from inference.engine.training.logprobs import build_batch, sequence_logprobs
from inference.engine.training.reward_update import RewardUpdate, adapter_parameters, plan_micro_batches
from inference.engine.types import TrainingGroup, TrainingParams
from .tiny import tiny_peft

CONTEXT = ({"role": "user", "content": "Is the sky blue?"},)
GOOD, BAD = "Yes, it is blue.", "No."
FAST = TrainingParams(learning_rate=1e-2, learning_steps=4, beta=0.04, epsilon=0.2)


def run(job: RewardUpdate, limit: int = 100) -> int:
    """Step a job to the end; returns the number of calls."""
    for calls in range(1, limit + 1):
        if job.step():
            return calls
    raise AssertionError("the job did not finish")


def response_logprobs(model, tokenizer, responses):
    """Summed log-prob of each response (with its end of turn) after CONTEXT, under the active adapter."""
    batch = build_batch(tokenizer, [(CONTEXT, r) for r in responses], context_length=128)
    with torch.no_grad():
        return sequence_logprobs(model, batch).sum(dim=1)  # (B,)


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_a_rewarded_response_gains_probability_and_a_penalised_one_loses_it():
    model, tokenizer = tiny_peft(dropout=0.1)
    before = response_logprobs(model, tokenizer, [GOOD, BAD])
    job = RewardUpdate(model, tokenizer, "user1", (TrainingGroup(CONTEXT, (GOOD, BAD), (1.0, -1.0)),), FAST, 128)
    calls = run(job)
    after = response_logprobs(model, tokenizer, [GOOD, BAD])
    assert after[0] > before[0] + 0.5 and after[1] < before[1] - 0.5, (before, after)
    r = job.result
    assert r.changed and r.reason == "" and r.steps == 4
    assert calls == 1 + 4  # prepare (+ scoring) once, then one optimiser step per call
    assert r.reward_mean == 0.0 and r.reward_std == 1.0
    assert r.tokens == sum(len(tokenizer(x, add_special_tokens=False)["input_ids"]) + 1 for x in (GOOD, BAD))
    assert r.loss is not None and r.kl is not None and r.kl >= 0 and 0 <= r.clip_fraction <= 1


def test_a_single_thumbs_up_raises_the_probability_of_its_response():
    model, tokenizer = tiny_peft()
    before = response_logprobs(model, tokenizer, [GOOD])
    run(RewardUpdate(model, tokenizer, "user1", (TrainingGroup(CONTEXT, (GOOD,), (1.0,)),), FAST, 128))
    assert response_logprobs(model, tokenizer, [GOOD])[0] > before[0] + 0.5


def test_only_the_trained_adapter_changes_bitwise():
    model, tokenizer = tiny_peft(("user1", "user2", "user3"))
    before = snapshot(model)
    group = TrainingGroup(CONTEXT, (GOOD, BAD, "Maybe."), (1.0, -1.0, 0.0))
    run(RewardUpdate(model, tokenizer, "user2", (group,), FAST, 128))
    trained = {id(p) for p in adapter_parameters(model, "user2")}
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed, "the adapter did not move"
    for name, p in model.named_parameters():
        if id(p) not in trained:
            assert torch.equal(p, before[name]), f"{name} changed"
    assert all(".user2." in name for name in changed)


def test_the_model_is_left_as_found_between_steps_and_can_generate_with_explicit_adapters():
    model, tokenizer = tiny_peft()
    model.set_adapter("user2")
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    job = RewardUpdate(model, tokenizer, "user1", (TrainingGroup(CONTEXT, (GOOD, BAD), (2.0, 0.0)),), FAST, 128)
    ids = torch.tensor([[1, 2, 3, 4]])
    while not job.step():
        assert not model.training
        assert model.active_adapter == "user2"
        assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
        with torch.no_grad():  # what the engine does between two training steps: a mixed-adapter decode
            logits = model(input_ids=ids.repeat(3, 1), adapter_names=["user1", "user2", "__base__"]).logits
        assert torch.isfinite(logits).all()
    assert job.result.changed


def test_no_signal_finishes_at_once_and_touches_nothing():
    model, tokenizer = tiny_peft()
    before = snapshot(model)
    groups = (TrainingGroup(CONTEXT, (GOOD, BAD), (3.0, 3.0)), TrainingGroup(CONTEXT, (GOOD,), (0.0,)))
    job = RewardUpdate(model, tokenizer, "user1", groups, FAST, 128)
    assert job.step() is True
    r = job.result
    assert not r.changed and r.steps == 0 and r.tokens == 0 and r.loss is None
    assert r.reason.endswith("nothing to learn")
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


def test_all_equal_rewards_say_so():
    model, tokenizer = tiny_peft()
    groups = (TrainingGroup(CONTEXT, (GOOD, BAD), (3.0, 3.0)), TrainingGroup(CONTEXT, (GOOD, BAD, "x"), (3, 3, 3)))
    job = RewardUpdate(model, tokenizer, "user1", groups, FAST, 128)
    run(job)
    assert job.result.reason == "all rewards in every group are equal (3.0): nothing to learn"


def test_micro_batches_give_the_same_update_as_one_batch():
    group = TrainingGroup(CONTEXT, (GOOD, BAD, "Blue."), (1.0, -1.0, 0.5))
    results = []
    for budget in (10_000, 1):  # one micro-batch; one sequence per micro-batch
        model, tokenizer = tiny_peft()
        job = RewardUpdate(model, tokenizer, "user1", (group,), FAST, 128, micro_batch_tokens=budget)
        calls = run(job)
        results.append(([p.detach().clone() for p in adapter_parameters(model, "user1")], calls, job.result))
    (one, one_calls, one_result), (many, many_calls, many_result) = results
    assert one_calls == 1 + 4 and many_calls == 3 + 3 * 4
    # Equal up to float rounding of the summation order; Adam divides each gradient by its own running
    # scale, so rounding in a near-zero gradient can move its weight by ~1e-3 of a step (1.8e-5 of
    # weights moved up to 0.04, seen on one host), far below what a wrong micro-batch weighting gives.
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(one, many))
    assert abs(one_result.loss - many_result.loss) < 1e-5


def test_micro_batch_plan_respects_the_padded_token_budget():
    plan = plan_micro_batches([5, 30, 10, 12, 8], budget=24)
    assert sorted(i for mb in plan for i in mb) == [0, 1, 2, 3, 4]
    assert plan[0] == [1]  # longer than the budget: alone
    for mb in plan[1:]:
        assert len(mb) * max([5, 30, 10, 12, 8][i] for i in mb) <= 24


def test_duration_comes_from_the_clock_and_a_finished_job_stays_finished():
    ticks = iter([10.0, 10.25])
    model, tokenizer = tiny_peft()
    job = RewardUpdate(model, tokenizer, "user1", (TrainingGroup(CONTEXT, (GOOD,), (0.0,)),), FAST, 128,
                      clock=lambda: next(ticks))
    assert job.step() and job.result.duration_ms == 250
    assert job.step() and job.done
