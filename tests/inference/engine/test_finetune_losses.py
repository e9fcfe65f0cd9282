"""The fine-tuning losses and data on hand-made tensors: SFT counts target tokens only, DPO is the
formula, gradient accumulation adds up to the full batch."""
import math

import pytest
import torch
import torch.nn.functional as F

from inference.engine.training.dpo_loss import dpo_loss
from inference.engine.training.examples import SupervisedExample, holdout_split
from inference.engine.training.finetune_data import encode_supervised, micro_batches
from inference.engine.training.logprobs import token_logprobs
from inference.engine.training.sft_loss import sft_loss

from .tiny import tiny_tokenizer


def test_the_sft_loss_is_the_cross_entropy_of_the_target_tokens_only():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)  # (B, T, V)
    ids = torch.tensor([[1, 2, 3, 4, 5], [6, 5, 4, 0, 0]])
    targets = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], dtype=torch.bool)  # second row: 2 targets + padding
    loss = sft_loss(token_logprobs(logits, ids, targets), targets[:, 1:])

    # By hand: -log softmax(logits[b, t - 1])[ids[b, t]] for each target token t, averaged over the 5 tokens.
    terms = []
    for b, t in [(0, 2), (0, 3), (0, 4), (1, 1), (1, 2)]:
        terms.append(-torch.log_softmax(logits[b, t - 1], -1)[ids[b, t]])
    assert loss.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-6)
    labels = torch.where(targets, ids, torch.full_like(ids, -100))[:, 1:]
    assert loss.item() == pytest.approx(F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels.reshape(-1)).item(), rel=1e-6)


def test_micro_batches_divided_by_the_batch_token_count_add_up_to_the_full_batch_loss():
    logp = -torch.rand(4, 6)
    mask = torch.rand(4, 6) > 0.3
    whole = sft_loss(logp, mask)
    n = int(mask.sum())
    parts = sft_loss(logp[:1], mask[:1], n) + sft_loss(logp[1:], mask[1:], n)
    assert parts.item() == pytest.approx(whole.item(), rel=1e-6)


def test_weight_zero_assistant_messages_are_context_not_targets():
    tokenizer = tiny_tokenizer()
    example = SupervisedExample(
        ({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Bad answer"},
         {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Good"}),
        (False, False, False, True))
    pairs = encode_supervised(tokenizer, example, 256)
    assert len(pairs) == 1
    completion = tokenizer.decode(pairs[0].completion)
    assert completion.startswith("Good") and "Bad answer" in tokenizer.decode(pairs[0].prompt)


def test_the_dpo_loss_is_minus_log_sigmoid_of_beta_times_the_log_ratio_difference():
    pc, pr = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0])
    rc, rr = torch.tensor([-3.5, -4.0]), torch.tensor([-3.5, -3.0])
    beta = 0.5
    out = dpo_loss(pc, pr, rc, rr, beta)
    by_hand = [-math.log(1 / (1 + math.exp(-beta * ((c - a) - (r - b)))))
               for c, r, a, b in zip(pc.tolist(), pr.tolist(), rc.tolist(), rr.tolist())]
    assert out.loss.item() == pytest.approx(sum(by_hand) / 2, rel=1e-6)
    assert out.chosen_rewards.tolist() == pytest.approx([0.25, -0.5])
    assert out.rejected_rewards.tolist() == pytest.approx([-0.25, 0.5])
    assert out.accuracies.tolist() == [1.0, 0.0]
    assert out.margins.tolist() == pytest.approx([0.5, -1.0])


def test_dpo_loss_at_the_reference_is_log_two():
    x = torch.tensor([-2.0, -3.0])
    assert dpo_loss(x, x, x, x, 0.1).loss.item() == pytest.approx(math.log(2))


def test_micro_batches_stay_within_their_token_budget_and_cover_every_item():
    lengths = [10, 3, 7, 12, 4]
    out = micro_batches(lengths, range(5), 20)
    assert sorted(i for m in out for i in m) == list(range(5))
    assert all(len(m) * max(lengths[i] for i in m) <= 20 or len(m) == 1 for m in out)


def test_the_held_out_share_is_fixed_by_the_seed_and_never_everything():
    assert holdout_split(20, 0.1, 3) == holdout_split(20, 0.1, 3)
    train, valid = holdout_split(20, 0.1, 3)
    assert len(valid) == 2 and sorted(train + valid) == list(range(20))
    assert holdout_split(1, 0.5, 0) == ([0], [])
    assert len(holdout_split(2, 0.9, 0)[0]) == 1
