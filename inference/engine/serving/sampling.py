"""Choosing the next token of every row: greedy or temperature + top-p, with a generator per row."""
from __future__ import annotations

from collections.abc import Sequence

import torch

GREEDY_BELOW = 1e-5  # temperatures under this are greedy (dividing by them would overflow)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator of its own for one row: the same seed gives the same draws whatever else runs."""
    return torch.Generator(device=device).manual_seed(seed)


def sample_next(
    logits: torch.Tensor,
    temperatures: Sequence[float],
    top_ps: Sequence[float],
    generators: Sequence[torch.Generator],
) -> torch.Tensor:
    """The next token of each row; row i uses temperatures[i] (0: greedy), top_ps[i], generators[i].

    logits: (B, V). Returns (B,) long. A sampled row draws exactly one uniform number from its own
    generator per call, and a greedy row none, so a row's draws never depend on its neighbours."""
    B, V = logits.shape
    assert len(temperatures) == len(top_ps) == len(generators) == B
    out = logits.argmax(dim=-1)  # (B,)
    rows = [i for i, t in enumerate(temperatures) if t >= GREEDY_BELOW]
    if not rows:
        return out
    device = logits.device
    idx = torch.tensor(rows, device=device)  # (S,)
    temp = torch.tensor([temperatures[i] for i in rows], device=device, dtype=torch.float32)  # (S,)
    top_p = torch.tensor([top_ps[i] for i in rows], device=device, dtype=torch.float32)  # (S,)

    probs = torch.softmax(logits.index_select(0, idx).float() / temp[:, None], dim=-1)  # (S, V)
    sorted_p, order = probs.sort(dim=-1, descending=True)  # (S, V)
    # Keep the smallest prefix whose mass reaches top_p: drop a token when the mass BEFORE it does
    # (so the most likely token always stays).
    drop = (sorted_p.cumsum(dim=-1) - sorted_p) >= top_p[:, None]  # (S, V)
    sorted_p = sorted_p.masked_fill(drop, 0.0)
    cdf = sorted_p.cumsum(dim=-1)  # (S, V), unnormalised
    kept = (~drop).sum(dim=-1, keepdim=True)  # (S, 1), >= 1
    u = torch.stack([torch.rand((), generator=generators[i], device=device) for i in rows])  # (S,)
    pick = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)  # (S, 1)
    pick = torch.minimum(pick, kept - 1)  # u * total can land on the last kept bucket's edge
    out[idx] = order.gather(-1, pick).squeeze(-1)
    return out
