"""Token ids for (context, response) pairs, and the log-probabilities of the response tokens.

A sequence is `prompt ids + completion ids`: the prompt is the tokenizer's chat template with the
assistant header (add_generation_prompt=True), rendered by the same function generation uses
(`chat.render_prompt`), so training scores exactly the context the model answered; the completion is
the response text tokenised on its own plus the end-of-turn token, so the model also learns where
(not) to stop. Special-token text in either is encoded as plain text, as generation does: a response
cannot forge a turn boundary. Sequences are right-padded; `response_mask` marks the completion tokens.

Log-probs are "shifted": position t of a (B, T - 1) result is log p(ids[t + 1] | ids[:t + 1]), so
`response_mask[:, 1:]` selects the response tokens' log-probs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..chat import render_prompt

# End-of-turn markers of common chat templates, preferred over a base tokenizer's generic eos
# (a Llama-3 tokenizer whose eos is <|end_of_text|> still ends assistant turns with <|eot_id|>).
END_OF_TURN_TOKENS = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>")

LOGPROB_CHUNK = 1024  # positions per log_softmax: bounds the float32 (chunk, V) temporary


@dataclass(frozen=True)
class Encoded:
    """One (context, response) pair as token ids, already fitted to the context length."""

    prompt: tuple[int, ...]
    completion: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.prompt) + len(self.completion)


@dataclass(frozen=True)
class Batch:
    """Right-padded sequences on one device."""

    input_ids: torch.Tensor  # (B, T) long
    attention_mask: torch.Tensor  # (B, T) long, 1 on real tokens
    response_mask: torch.Tensor  # (B, T) bool, True on completion tokens (response + end of turn)

    @property
    def logprob_mask(self) -> torch.Tensor:
        """(B, T - 1) bool: the shifted positions whose log-prob belongs to a response token."""
        return self.response_mask[:, 1:]


def end_of_turn_id(tokenizer) -> int:
    """The token that closes an assistant turn: a known chat marker if the vocabulary has one,
    else the tokenizer's eos."""
    vocab = tokenizer.get_vocab()
    for token in END_OF_TURN_TOKENS:
        if token in vocab:
            return vocab[token]
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has neither an end-of-turn token nor an eos token")
    return tokenizer.eos_token_id


def encode_prompt(tokenizer, messages: Sequence[dict]) -> list[int]:
    """The chat template with the assistant header appended: the ids generation starts from."""
    return render_prompt(tokenizer, messages)


def encode_response(tokenizer, response: str) -> list[int]:
    """The response's own tokens followed by the end of turn. Text that spells a special token
    ("<|eot_id|>") stays text, as in prompts, so only the final end of turn is a real one."""
    ids = tokenizer(response, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return list(ids) + [end_of_turn_id(tokenizer)]


def fit_to_context(prompt: Sequence[int], completion: Sequence[int], context_length: int, bos_id: int | None) -> Encoded:
    """Cut a pair to at most `context_length` tokens, keeping the response.

    The response is what is trained, so it is kept whole when it fits next to one prompt token, else
    its END is cut (the kept tokens still follow their real prefix; the end-of-turn goes). The prompt
    then loses its OLDEST tokens (the most recent context matters most and the assistant header must
    stay right before the response), keeping a leading BOS, which models expect at position 0.
    """
    assert context_length >= 2, "one prompt token and one response token at least"
    assert len(prompt) >= 1 and len(completion) >= 1, (len(prompt), len(completion))
    completion = list(completion[: context_length - 1])
    budget = context_length - len(completion)  # >= 1
    prompt = list(prompt)
    if len(prompt) > budget:
        if bos_id is not None and prompt[0] == bos_id and budget >= 2:
            prompt = [bos_id] + prompt[len(prompt) - (budget - 1):]
        else:
            prompt = prompt[len(prompt) - budget:]
    encoded = Encoded(tuple(prompt), tuple(completion))
    assert 1 <= len(encoded.prompt) and len(encoded) <= context_length
    return encoded


def encode_pair(tokenizer, messages: Sequence[dict], response: str, context_length: int) -> Encoded:
    """Prompt ids (chat template + assistant header) and completion ids (response + end of turn)."""
    prompt = encode_prompt(tokenizer, messages)
    return fit_to_context(prompt, encode_response(tokenizer, response), context_length, tokenizer.bos_token_id)


def collate(encoded: Sequence[Encoded], pad_id: int, device: torch.device | str = "cpu") -> Batch:
    """Right-pad a list of pairs into one batch as long as its longest sequence."""
    assert encoded, "an empty batch"
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)  # (B, T)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)  # (B, T)
    response = torch.zeros((len(encoded), width), dtype=torch.bool)  # (B, T)
    for i, e in enumerate(encoded):
        p, n = len(e.prompt), len(e)
        ids[i, :n] = torch.tensor(e.prompt + e.completion, dtype=torch.long)
        attention[i, :n] = 1
        response[i, p:n] = True
    return Batch(ids.to(device), attention.to(device), response.to(device))


def build_batch(tokenizer, pairs: Sequence[tuple[Sequence[dict], str]], context_length: int,
                device: torch.device | str = "cpu") -> Batch:
    """Encode and collate (messages, response) pairs; pads with the tokenizer's pad (or eos) token."""
    encoded = [encode_pair(tokenizer, m, r, context_length) for m, r in pairs]
    return collate(encoded, pad_id(tokenizer), device)


def pad_id(tokenizer) -> int:
    """Any id works (padding is masked everywhere); prefer the declared pad token."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return candidate
    return 0


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Log-probs of the next tokens under `logits`, zero outside the response.

    logits: (B, T, V), any float dtype; input_ids, response_mask: (B, T). Returns (B, T - 1) float32,
    position t = log p(input_ids[t + 1]). Memory: log_softmax runs in float32 on one row and at most
    LOGPROB_CHUNK positions at a time, and only the gathered value is kept, so the (B, T, V) float32
    log-softmax is never materialised.
    """
    B, T, V = logits.shape
    assert input_ids.shape == (B, T) and response_mask.shape == (B, T), (logits.shape, input_ids.shape, response_mask.shape)
    return _gather_logprobs(logits[:, :-1], input_ids[:, 1:], response_mask[:, 1:])


def _gather_logprobs(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logits (B, L, V) predicting targets (B, L) -> (B, L) float32 log-probs, 0 where mask is False."""
    rows = []
    for b in range(logits.shape[0]):
        pieces = []
        for s in range(0, logits.shape[1], LOGPROB_CHUNK):
            chunk = torch.log_softmax(logits[b, s:s + LOGPROB_CHUNK].float(), dim=-1)  # (L', V)
            pieces.append(chunk.gather(-1, targets[b, s:s + LOGPROB_CHUNK].unsqueeze(-1)).squeeze(-1))  # (L',)
        rows.append(torch.cat(pieces) if pieces else logits.new_zeros((0,), dtype=torch.float32))
    out = torch.stack(rows)  # (B, L)
    return torch.where(mask, out, torch.zeros((), dtype=out.dtype, device=out.device))


def sequence_logprobs(model, batch: Batch) -> torch.Tensor:
    """Run `model` on the batch and return the response tokens' log-probs, (B, T - 1) float32.

    Logits are computed only from the first position that predicts a response token onwards
    (`logits_to_keep`): for long prompts the (B, T, V) logits are most of the memory.
    Gradients flow if the caller has them enabled.
    """
    mask = batch.logprob_mask  # (B, T - 1)
    B, T = batch.input_ids.shape
    assert bool(mask.any()), "no response token in the batch"
    first = int(mask.any(dim=0).nonzero()[0])  # earliest shifted position to keep
    keep = torch.arange(first, T - 1, device=batch.input_ids.device)  # positions whose logits we need
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, logits_to_keep=keep, use_cache=False)
    logits = out.logits  # (B, T - 1 - first, V)
    assert logits.shape[1] == T - 1 - first, (logits.shape, first, T)
    kept = _gather_logprobs(logits, batch.input_ids[:, first + 1:], mask[:, first:])  # (B, T - 1 - first)
    return torch.cat([kept.new_zeros((B, first)), kept], dim=1)  # (B, T - 1)
