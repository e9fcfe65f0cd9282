"""Per-row logits work: penalties, logit bias, constrained decoding, and log-probabilities.

A row whose request asks for none of these has no `RowControls` and costs nothing here: the
sampler only gathers the rows that have one (`apply` before sampling, `observe` after), so free
rows keep exactly the logits, the tokens and the cost they had without this module. That is
how one batch mixes constrained and free rows, as vLLM's per-request logits processors do.

Constrained decoding uses llguidance (Microsoft's grammar engine, also behind vLLM's and
SGLang's "guidance" backend): a matcher per row computes the allowed-token bitmask in Rust in
microseconds and needs no GPU kernels or triton (xgrammar pulls triton; outlines-core builds an
index of the whole vocabulary per schema up front, which llguidance's lazy lexer avoids).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import EngineError
from ..types import SamplingParams, TokenLogprob, TopLogprob


class InvalidGrammar(EngineError):
    code = "invalid_grammar"


class GrammarTokenizer:
    """The llguidance view of one checkpoint's tokenizer (built once per base, on first use)."""

    def __init__(self, hf_tokenizer, vocab_size: int):
        import llguidance.hf

        self.ll = llguidance.hf.from_tokenizer(hf_tokenizer, n_vocab=max(vocab_size, len(hf_tokenizer)))

    def matcher(self, grammar: str):
        import llguidance

        matcher = llguidance.LLMatcher(self.ll, grammar)
        error = matcher.get_error()
        if error:
            raise InvalidGrammar(f"The grammar could not be compiled: {error}")
        return matcher


@dataclass
class RowControls:
    """What one row needs from the sampler. Engine thread only."""

    logprobs: int | None = None  # None: none; k: the sampled token's log-probability and the top k
    presence: float = 0.0
    frequency: float = 0.0
    counts: torch.Tensor | None = None  # (V,) float32: how often each token was generated (penalties)
    bias: torch.Tensor | None = None  # (V,) float32, added to the logits
    matcher: object | None = None  # llguidance.LLMatcher: the row's grammar state
    forced: list[int] | None = None  # tokens the row must take before its grammar applies
    pending: list[TokenLogprob] | None = None  # log-probabilities not streamed yet

    @property
    def modifies(self) -> bool:
        return self.counts is not None or self.bias is not None or self.matcher is not None


def row_controls(params: SamplingParams, vocab: int, device: torch.device,
                 grammar: GrammarTokenizer | None, tokenizer=None) -> RowControls | None:
    """The controls of one new row, or None when its request uses no per-row feature."""
    if not params.controlled:
        return None
    controls = RowControls(logprobs=params.logprobs, presence=params.presence_penalty,
                           frequency=params.frequency_penalty)
    if params.logprobs is not None:
        controls.pending = []
    if params.presence_penalty or params.frequency_penalty:
        controls.counts = torch.zeros(vocab, dtype=torch.float32, device=device)
    if params.logit_bias:
        bias = torch.zeros(vocab, dtype=torch.float32)
        for token, value in params.logit_bias:
            if 0 <= token < vocab:
                bias[token] = value
        controls.bias = bias.to(device)
    if params.grammar:
        assert grammar is not None, "a grammar needs the base's GrammarTokenizer"
        controls.matcher = grammar.matcher(params.grammar)
        # The prefix is forced as the tokenizer encodes it, outside the grammar: llguidance reads
        # added tokens such as DeepSeek's "</think>" as special, not as their text.
        controls.forced = list(tokenizer.encode(params.grammar_prefix, add_special_tokens=False)) if params.grammar_prefix else []
    return controls


def apply_controls(logits: torch.Tensor, rows: Sequence[int], controls: Sequence[RowControls]) -> torch.Tensor:
    """`logits` (B, V) with penalties, bias and grammar masks applied to `rows` (a new tensor; the
    other rows' values are copied untouched). controls[k] belongs to row rows[k]."""
    B, V = logits.shape
    idx = torch.tensor(rows, device=logits.device)  # (S,)
    sub = logits.index_select(0, idx).float()  # (S, V)
    penalised = [k for k, c in enumerate(controls) if c.counts is not None]
    if penalised:
        counts = torch.stack([controls[k].counts for k in penalised])  # (P, V)
        freq = torch.tensor([controls[k].frequency for k in penalised], device=logits.device)[:, None]
        pres = torch.tensor([controls[k].presence for k in penalised], device=logits.device)[:, None]
        at = torch.tensor(penalised, device=logits.device)
        sub.index_add_(0, at, -(counts * freq + (counts > 0).float() * pres))
    biased = [k for k, c in enumerate(controls) if c.bias is not None]
    if biased:
        at = torch.tensor(biased, device=logits.device)
        sub.index_add_(0, at, torch.stack([controls[k].bias for k in biased]))
    constrained = [k for k, c in enumerate(controls) if c.matcher is not None]
    if constrained:
        allowed = _allowed([controls[k] for k in constrained], V).to(logits.device)  # (C, V)
        at = torch.tensor(constrained, device=logits.device)
        sub.index_copy_(0, at, sub.index_select(0, at).masked_fill(~allowed, float("-inf")))
    return logits.index_copy(0, idx, sub.to(logits.dtype))


_BITS = torch.arange(32, dtype=torch.int32)


def _allowed(controls: Sequence[RowControls], vocab: int) -> torch.Tensor:
    """(C, vocab) bool: the tokens each row may take next. (llguidance.torch would torch.compile
    its kernel on import, which takes minutes on a CPU: unpacking the bitmask here is a few ops.)"""
    import llguidance.numpy as lln

    mask = lln.allocate_token_bitmask(len(controls), vocab)  # (C, ceil(V / 32)) int32
    forced = []
    for j, c in enumerate(controls):
        if c.forced:
            forced.append((j, c.forced[0]))
        else:
            lln.fill_next_token_bitmask(c.matcher, mask, j)
    bits = (torch.from_numpy(mask)[:, :, None] >> _BITS) & 1  # (C, W, 32)
    allowed = bits.reshape(len(controls), -1)[:, :vocab].bool()
    for j, token in forced:
        allowed[j] = False
        allowed[j, token] = True
    return allowed


def observe_sampled(raw_logits: torch.Tensor, sampled: torch.Tensor, rows: Sequence[int],
            controls: Sequence[RowControls], tokenizer, eos_token_ids: frozenset[int]) -> None:
    """After sampling: count the tokens, advance the grammars, note the log-probabilities."""
    tokens = sampled.index_select(0, torch.tensor(rows, device=sampled.device)).tolist()
    wanted = [k for k, c in enumerate(controls) if c.logprobs is not None]
    if wanted:
        at = torch.tensor([rows[k] for k in wanted], device=raw_logits.device)
        logp = torch.log_softmax(raw_logits.index_select(0, at).float(), dim=-1)  # (W, V)
        chosen = logp.gather(1, torch.tensor([[tokens[k]] for k in wanted], device=logp.device))[:, 0].tolist()
        k_max = max(controls[k].logprobs for k in wanted)
        top_p, top_i = logp.topk(k_max, dim=-1) if k_max else (None, None)
        top_p = top_p.tolist() if k_max else None
        top_i = top_i.tolist() if k_max else None
        for j, k in enumerate(wanted):
            token = tokens[k]
            if token in eos_token_ids:  # EOS is no text: it has no place in the content's tokens
                continue
            n = controls[k].logprobs
            top = tuple(TopLogprob(_text(tokenizer, t), p) for t, p in zip(top_i[j][:n], top_p[j][:n])) if n else ()
            controls[k].pending.append(TokenLogprob(_text(tokenizer, token), chosen[j], top))
    for k, c in enumerate(controls):
        if c.counts is not None:
            c.counts[tokens[k]] += 1
        if c.forced:
            c.forced.pop(0)
        elif c.matcher is not None and tokens[k] not in eos_token_ids:
            c.matcher.consume_token(tokens[k])


def _text(tokenizer, token: int) -> str:
    return tokenizer.decode([token], skip_special_tokens=False, clean_up_tokenization_spaces=False)
