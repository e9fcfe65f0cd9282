"""The DPO loss (Rafailov et al. 2023; TRL's `sigmoid` loss without label smoothing).

Inputs are the summed log-probs of each completion (preferred = "chosen", non-preferred =
"rejected") under the policy being trained and under the reference (the model's revision when the
job started). With h = (log pi_c - log ref_c) - (log pi_r - log ref_r), the loss is
-log sigmoid(beta * h), averaged over the pairs. The implicit rewards beta * (log pi - log ref) give
the reported margin and accuracy (the share of pairs whose preferred reward is the higher).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DpoOutput:
    loss: torch.Tensor  # () with grad: SUM over pairs / num_pairs
    chosen_rewards: torch.Tensor  # (B,) detached
    rejected_rewards: torch.Tensor  # (B,) detached

    @property
    def margins(self) -> torch.Tensor:
        return self.chosen_rewards - self.rejected_rewards  # (B,)

    @property
    def accuracies(self) -> torch.Tensor:
        return (self.chosen_rewards > self.rejected_rewards).float()  # (B,)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float, num_pairs: int | None = None) -> DpoOutput:
    """All inputs (B,) summed completion log-probs; `num_pairs` is the divisor (default B), the size
    of the whole optimiser batch when this is one of its micro-batches."""
    B = policy_chosen.shape[0]
    assert policy_rejected.shape == ref_chosen.shape == ref_rejected.shape == (B,), "four (B,) tensors"
    assert beta > 0, f"beta must be positive, got {beta}"
    chosen = policy_chosen - ref_chosen  # (B,)
    rejected = policy_rejected - ref_rejected  # (B,)
    losses = -F.logsigmoid(beta * (chosen - rejected))  # (B,)
    return DpoOutput(
        loss=losses.sum() / (num_pairs or B),
        chosen_rewards=(beta * chosen).detach(),
        rejected_rewards=(beta * rejected).detach(),
    )
