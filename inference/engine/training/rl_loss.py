"""The GRPO loss: a clipped policy-ratio objective plus `beta` x KL to the reference (base) model.

Shapes: B sequences, T positions (already shifted: position t holds the log-prob of token t + 1).
All log-probs are per token, float32.

Averaging: every masked (response) token of the whole batch counts once, i.e. the sum over all
response tokens divided by their number ("token-level" mean, DAPO / TRL's "dapo"). The original
GRPO averages per sequence first, which gives the tokens of a short response more weight than those
of a long one and so biases training towards short answers when the advantage is positive and
long ones when it is negative. The divisor can be passed in (`num_tokens`) so that micro-batches of
one optimiser step add up to exactly the mean over the full batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LossOutput:
    """A scalar loss to backpropagate and its metrics, each a SUM over this call's masked tokens
    divided by `num_tokens` (so micro-batches add up to full-batch means)."""

    loss: torch.Tensor  # () with grad
    kl: torch.Tensor  # () detached: mean k3 KL to the reference
    clip_fraction: torch.Tensor  # () detached: share of tokens whose gradient the clip removed
    policy_loss: torch.Tensor  # () detached: the clipped-objective part of `loss`


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || ref) estimate `exp(ref - logp) - (ref - logp) - 1` (Schulman's k3):
    unbiased, always >= 0, zero exactly where logp == ref."""
    d = ref_logp - logp  # (B, T)
    return torch.exp(d) - d - 1


def clipped_objective(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, epsilon: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO/GRPO surrogate loss `-min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)` and a
    bool mask of the tokens where the clip is engaged (its gradient is zero there).

    logp, old_logp: (B, T); advantages: (B,), one per sequence, broadcast over its tokens.
    """
    assert logp.shape == old_logp.shape and advantages.shape == logp.shape[:1], (logp.shape, old_logp.shape, advantages.shape)
    assert 0 <= epsilon, epsilon
    ratio = torch.exp(logp - old_logp)  # (B, T)
    a = advantages.unsqueeze(1)  # (B, 1)
    unclipped = ratio * a
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * a
    loss = -torch.minimum(unclipped, clipped)  # (B, T)
    # The min picks the clipped (constant) term exactly when the ratio has left the trust region
    # in the direction the advantage pushes it.
    engaged = ((ratio > 1 + epsilon) & (a > 0)) | ((ratio < 1 - epsilon) & (a < 0))  # (B, T)
    return loss, engaged


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon: float,
    beta: float,
    num_tokens: int | None = None,
) -> LossOutput:
    """Clipped objective + beta * k3 KL, summed over masked tokens and divided by `num_tokens`
    (default: the number of masked tokens here, i.e. a plain per-token mean).

    logp (with grad), old_logp, ref_logp, mask: (B, T); advantages: (B,).
    Masked-out positions may hold anything (even inf): they get a zero gradient and add nothing.
    """
    assert logp.shape == ref_logp.shape == mask.shape, (logp.shape, ref_logp.shape, mask.shape)
    mask = mask.bool()
    n = int(mask.sum()) if num_tokens is None else num_tokens
    assert n > 0, "the loss needs at least one response token"
    # Replace masked-out values before any exp: selecting them away only afterwards would still
    # backpropagate 0 * inf = NaN through a padded position whose log-prob is -inf.
    logp, old_logp, ref_logp = (torch.where(mask, x, torch.zeros_like(x)) for x in (logp, old_logp, ref_logp))
    policy, engaged = clipped_objective(logp, old_logp, advantages, epsilon)  # (B, T) each
    kl = k3_kl(logp, ref_logp)  # (B, T)
    per_token = policy + beta * kl if beta else policy
    zero = torch.zeros((), dtype=per_token.dtype, device=per_token.device)

    def masked_mean(x: torch.Tensor) -> torch.Tensor:
        return torch.where(mask, x, zero).sum() / n

    return LossOutput(
        loss=masked_mean(per_token),
        kl=masked_mean(kl.detach()),
        clip_fraction=masked_mean(engaged.to(per_token.dtype)),
        policy_loss=masked_mean(policy.detach()),
    )
