"""The supervised (SFT) loss: cross-entropy on the target tokens only.

Completion-only training is a mask, not a second code path (TRL's `completion_only_loss`): the
log-probs come from `logprobs.sequence_logprobs`, already zero outside the response mask, and the
loss is minus their sum over the masked tokens divided by `num_tokens`. Passing the number of target
tokens of the whole optimiser batch as `num_tokens` makes micro-batches (gradient accumulation) add
up to exactly the token-mean of the full batch, whatever their padding.
"""
from __future__ import annotations

import torch


def sft_loss(logp: torch.Tensor, mask: torch.Tensor, num_tokens: int | None = None) -> torch.Tensor:
    """Mean negative log-likelihood of the target tokens.

    logp: (B, T) per-token log-probs (shifted: position t is the log-prob of token t + 1);
    mask: (B, T) bool, True on target tokens; num_tokens: the divisor (default: mask.sum()).
    Returns a scalar with grad."""
    assert logp.shape == mask.shape, (logp.shape, mask.shape)
    n = int(mask.sum()) if num_tokens is None else num_tokens
    assert n > 0, "no target token"
    return -(logp * mask).sum() / n
