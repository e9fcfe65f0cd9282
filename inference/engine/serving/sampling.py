"""Choosing the next token of every row: greedy or temperature + top-p, with a generator per row."""
from __future__ import annotations

from collections.abc import Sequence

import torch

GREEDY_BELOW = 1e-5  # temperatures under this are greedy (dividing by them would overflow)
# Top-p looks at the most likely tokens first: sorting a whole vocabulary costs ~60 us a row on the CPU
# (~20 % of a decode step of the demo model with 8 sampled rows) where the top 64 cost ~2 us, and the
# nucleus of a trained model almost always lies within them. Rows whose nucleus does not are sorted.
CANDIDATES = 64


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
    probs = torch.softmax(logits.index_select(0, idx).float() / temp[:, None], dim=-1)  # (S, V)
    u = torch.stack([torch.rand((), generator=generators[i], device=device) for i in rows])  # (S,)
    out[idx] = nucleus_draw(probs, [top_ps[i] for i in rows], u)
    return out


def nucleus_draw(probs: torch.Tensor, top_ps: Sequence[float], u: torch.Tensor) -> torch.Tensor:
    """One token per row from its nucleus: the smallest set of most likely tokens whose mass reaches
    top_ps[i], renormalised; the draw is the inverse CDF of the nucleus (tokens by falling probability)
    at u[i]. probs: (S, V), u: (S,). A row with top_p >= 1 draws from the whole vocabulary."""
    S, V = probs.shape
    device = probs.device
    out = torch.empty(S, dtype=torch.long, device=device)
    truncated = [i for i, p in enumerate(top_ps) if p < 1.0]
    whole = [i for i, p in enumerate(top_ps) if p >= 1.0]
    if whole:
        r = _index(whole, S, device)
        # In vocabulary order: nothing is dropped, so no order is needed (and a running sum in that
        # order may round past 1 early: no top_p test may drop anything here).
        out[r] = _inverse_cdf(probs[r], None, u[r], None)
    if not truncated:
        return out
    r = _index(truncated, S, device)
    top_p = torch.tensor([top_ps[i] for i in truncated], device=device, dtype=torch.float32)
    cand_p, cand_tok = probs[r].topk(min(CANDIDATES, V), dim=-1)  # (T, k), falling
    # The nucleus ends within the candidates exactly when they hold top_p of the mass: the first
    # token left out would be dropped (the mass before it reaches top_p).
    within = (cand_p.sum(dim=-1) >= top_p).tolist()
    if all(within):
        out[r] = _inverse_cdf(cand_p, cand_tok, u[r], top_p)
        return out
    for inside in (True, False):
        js = [j for j, w in enumerate(within) if w == inside]
        if not js:
            continue
        picked, rows = torch.tensor(js, device=device), [truncated[j] for j in js]
        if inside:
            p, tokens = cand_p[picked], cand_tok[picked]
        else:  # a nucleus wider than the candidates: the whole vocabulary in falling order
            p, tokens = probs[rows].sort(dim=-1, descending=True)
        out[rows] = _inverse_cdf(p, tokens, u[rows], top_p[picked])
    return out


def _index(rows: list[int], total: int, device: torch.device) -> torch.Tensor | slice:
    return slice(None) if len(rows) == total else torch.tensor(rows, device=device)


def _inverse_cdf(p: torch.Tensor, tokens: torch.Tensor | None, u: torch.Tensor,
                 top_p: torch.Tensor | None) -> torch.Tensor:
    """p: (R, K) falling (any order when top_p is None), tokens: (R, K) their ids (None: the column is
    the id). Keep the smallest prefix whose mass reaches top_p: drop a token when the mass BEFORE it
    does (so the most likely token always stays)."""
    if top_p is None:
        kept = torch.full((p.shape[0], 1), p.shape[1], device=p.device)
    else:
        drop = (p.cumsum(dim=-1) - p) >= top_p[:, None]  # (R, K)
        p = p.masked_fill(drop, 0.0)
        kept = (~drop).sum(dim=-1, keepdim=True)  # (R, 1), >= 1
    cdf = p.cumsum(dim=-1)  # (R, K), unnormalised
    pick = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)  # (R, 1)
    pick = torch.minimum(pick, kept - 1)  # u * total can land on the last kept bucket's edge
    return (pick if tokens is None else tokens.gather(-1, pick)).squeeze(-1)
