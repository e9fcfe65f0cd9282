"""The GRPO loss on hand-made tensors: ratio, clipping, KL, masking and token averaging."""
import math

import pytest
import torch

from inference.engine.training.rl_loss import clipped_objective, grpo_loss, k3_kl


def _ones_mask(b, t):
    return torch.ones((b, t), dtype=torch.bool)


def test_at_ratio_one_without_kl_the_loss_is_minus_the_mean_advantage():
    logp = torch.log(torch.rand(3, 5)).requires_grad_()
    advantages = torch.tensor([1.0, -0.5, 2.0])
    out = grpo_loss(logp, logp.detach(), logp.detach(), advantages, _ones_mask(3, 5), epsilon=0.2, beta=0.0)
    assert out.loss.item() == pytest.approx(-advantages.mean().item())
    assert out.clip_fraction.item() == 0.0
    assert out.kl.item() == 0.0


def test_the_mean_is_over_tokens_so_longer_responses_weigh_more():
    logp = torch.zeros(2, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)  # 4 tokens and 1 token
    out = grpo_loss(logp, logp, logp, torch.tensor([1.0, -1.0]), mask, epsilon=0.2, beta=0.0)
    assert out.loss.item() == pytest.approx(-(4 * 1.0 + 1 * -1.0) / 5)


def test_the_gradient_at_ratio_one_is_minus_the_advantage_per_token():
    logp = torch.zeros(2, 3, requires_grad=True)
    advantages = torch.tensor([1.0, -2.0])
    grpo_loss(logp, logp.detach(), logp.detach(), advantages, _ones_mask(2, 3), epsilon=0.2, beta=0.0).loss.backward()
    expected = -advantages.unsqueeze(1).expand(2, 3) / 6
    assert torch.allclose(logp.grad, expected)


def test_clipping_engages_beyond_epsilon_in_the_direction_of_the_advantage():
    old = torch.zeros(4, 1)
    # ratio 1.5 with A > 0: clipped. ratio 1.5 with A < 0: not (the min keeps the worse, unclipped term).
    # ratio 0.5 with A < 0: clipped. ratio 1.1 with A > 0: inside the trust region.
    logp = torch.log(torch.tensor([[1.5], [1.5], [0.5], [1.1]])).requires_grad_()
    advantages = torch.tensor([1.0, -1.0, -1.0, 1.0])
    loss, engaged = clipped_objective(logp, old, advantages, epsilon=0.2)
    assert engaged.squeeze(1).tolist() == [True, False, True, False]
    assert loss.squeeze(1).tolist() == pytest.approx([-1.2, 1.5, 0.8, -1.1])
    out = grpo_loss(logp, old, old, advantages, _ones_mask(4, 1), epsilon=0.2, beta=0.0)
    assert out.clip_fraction.item() == pytest.approx(0.5)
    out.loss.backward()
    assert logp.grad[0].item() == 0.0 and logp.grad[2].item() == 0.0  # no gradient through a clip
    assert logp.grad[1].item() != 0.0 and logp.grad[3].item() != 0.0


def test_k3_kl_is_zero_when_logp_equals_ref_and_positive_otherwise():
    logp = torch.log(torch.tensor([[0.2, 0.5, 0.9]]))
    assert torch.equal(k3_kl(logp, logp), torch.zeros(1, 3))
    ref = torch.log(torch.tensor([[0.4, 0.5, 0.3]]))
    kl = k3_kl(logp, ref)
    d = ref - logp
    assert torch.allclose(kl, torch.exp(d) - d - 1)
    assert kl[0, 0] > 0 and kl[0, 1] == 0 and kl[0, 2] > 0


def test_beta_weights_the_kl_term_into_the_loss():
    logp = torch.full((1, 2), math.log(0.5))
    ref = torch.full((1, 2), math.log(0.25))
    kl_value = math.exp(math.log(0.5)) - math.log(0.5) - 1  # d = ref - logp = log(0.5)
    out = grpo_loss(logp, logp, ref, torch.tensor([0.0]), _ones_mask(1, 2), epsilon=0.2, beta=0.5)
    assert out.kl.item() == pytest.approx(kl_value)
    assert out.loss.item() == pytest.approx(0.5 * kl_value)


def test_masked_positions_never_reach_the_loss_even_when_infinite():
    logp = torch.tensor([[-1.0, -math.inf]])
    mask = torch.tensor([[True, False]])
    out = grpo_loss(logp, torch.tensor([[-1.0, 0.0]]), torch.tensor([[-1.0, 5.0]]), torch.tensor([2.0]), mask,
                    epsilon=0.2, beta=1.0)
    assert out.loss.item() == pytest.approx(-2.0)
    assert math.isfinite(out.kl.item())


def test_micro_batches_divided_by_the_full_token_count_add_up_to_the_full_batch_loss():
    torch.manual_seed(0)
    logp, old, ref = (torch.log(torch.rand(4, 6)) for _ in range(3))
    advantages = torch.randn(4)
    mask = torch.rand(4, 6) > 0.3
    full = grpo_loss(logp, old, ref, advantages, mask, epsilon=0.2, beta=0.1)
    n = int(mask.sum())
    parts = [grpo_loss(logp[s], old[s], ref[s], advantages[s], mask[s], epsilon=0.2, beta=0.1, num_tokens=n)
             for s in (slice(0, 1), slice(1, 4))]
    for field in ("loss", "kl", "clip_fraction"):
        assert sum(getattr(p, field).item() for p in parts) == pytest.approx(getattr(full, field).item(), rel=1e-5)


def test_masked_positions_get_a_zero_gradient_even_when_they_hold_infinities():
    inf = float("inf")
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    advantages = torch.tensor([1.0, -1.0])

    def run(filler: list[float]):
        """Loss and gradient with the three masked-out positions holding `filler`."""
        def fill(rows):
            x = torch.tensor(rows)
            x[~mask] = torch.tensor(filler)
            return x
        logp = fill([[-1.0, -2.0, 0.0], [-0.5, 0.0, 0.0]]).requires_grad_()
        out = grpo_loss(logp, fill([[-1.1, -2.0, 0.0], [-0.5, 0.0, 0.0]]), fill([[-1.0, -2.5, 0.0], [-0.7, 0.0, 0.0]]),
                        advantages, mask, epsilon=0.2, beta=0.04)
        out.loss.backward()
        return out.loss, logp.grad

    loss, grad = run([-inf, inf, -inf])  # padding: log-probs of -inf, an overflowed +inf
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert (grad[~mask] == 0).all() and (grad[mask] != 0).all()
    plain_loss, plain_grad = run([-3.0, -4.0, -5.0])  # what the masked positions hold must not matter
    assert loss.item() == plain_loss.item() and torch.equal(grad, plain_grad)
