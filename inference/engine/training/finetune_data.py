"""Dataset examples as token ids, and the batches of an epoch.

A supervised example becomes one (prompt, completion) pair per target message: the prompt is the
conversation before it rendered by the chat template with the assistant header (exactly what
generation sees), the completion the message's tokens plus the end of turn. Only completion tokens
are trained (`Batch.response_mask`), so context messages and `weight: 0` answers count as prompt.
A preference example becomes two pairs sharing a prompt: preferred and non-preferred.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence

from .examples import PreferenceExample, SupervisedExample
from .logprobs import Encoded, encode_pair


def encode_supervised(tokenizer, example: SupervisedExample, context_length: int) -> list[Encoded]:
    """One pair per target message (at least one: the parser refuses examples without a target)."""
    pairs = []
    for i, (message, target) in enumerate(zip(example.messages, example.targets)):
        if target:
            pairs.append(encode_pair(tokenizer, example.messages[:i], message["content"], context_length))
    assert pairs, "a supervised example without a target message"
    return pairs


def encode_preference(tokenizer, example: PreferenceExample, context_length: int) -> tuple[Encoded, Encoded]:
    """(preferred, non-preferred) pairs on the same prompt."""
    return (encode_pair(tokenizer, example.messages, example.preferred, context_length),
            encode_pair(tokenizer, example.messages, example.non_preferred, context_length))


def example_tokens(tokenizer, example, context_length: int) -> int:
    """Tokens one example costs per epoch (every sequence it becomes, prompt included)."""
    if isinstance(example, PreferenceExample):
        return sum(len(e) for e in encode_preference(tokenizer, example, context_length))
    return sum(len(e) for e in encode_supervised(tokenizer, example, context_length))


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Optimiser steps of one epoch: the last batch may be smaller."""
    return math.ceil(n_examples / batch_size)


def epoch_batches(n_examples: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    """A shuffled epoch cut into batches of `batch_size` example indices."""
    order = list(range(n_examples))
    rng.shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n_examples, batch_size)]


def micro_batches(lengths: Sequence[int], indices: Sequence[int], budget: int) -> list[list[int]]:
    """Split the items `indices` (lengths[i] padded tokens each) into micro-batches of at most
    `budget` padded tokens, longest first so that similar lengths share padding; an item longer
    than the budget goes alone. Gradient accumulation over these makes a batch independent of memory."""
    order = sorted(indices, key=lambda i: -lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and (len(out[-1]) + 1) * lengths[out[-1][0]] <= budget:
            out[-1].append(i)
        else:
            out.append([i])
    return out
