"""One reward training (one `POST /v1/train` call) of one LoRA adapter, as a resumable job.

The engine thread calls `step()` repeatedly, running decode steps of other requests in between; each
call does one bounded unit of work and leaves the model as it found it (eval mode, previously active
adapter, requires_grad flags), so generation with explicit `adapter_names=[...]` works between calls.

Units of work, in order:
1. prepare: advantages (finished at once, nothing touched, when no group has signal), token ids,
   micro-batch plan, then the first "score" unit;
2. score, one per micro-batch: OLD log-probs (the adapter as it was when the call began, eval mode)
   and REF log-probs (adapter switched off = the base model), no grad;
3. train, one per micro-batch: forward + backward with LoRA dropout on; the call that completes the
   batch also clips the gradient norm and takes the AdamW step. With one micro-batch (the usual
   case: up to `micro_batch_tokens` padded tokens) every train call is exactly one optimiser step.

Only the trained adapter's LoRA tensors are given to the optimiser and have requires_grad during a
call: the base weights and every other adapter stay bitwise identical.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from peft.tuners.tuners_utils import BaseTunerLayer

from .advantages import group_advantages, has_signal, no_signal_reason, reward_stats
from .logprobs import Encoded, collate, encode_pair, pad_id, sequence_logprobs
from .rl_loss import grpo_loss
from ..types import TrainingGroup, TrainingParams, TrainingResult

MICRO_BATCH_TOKENS = 8192  # padded tokens per forward/backward; bounds activation memory and call time


def adapter_parameters(peft_model, adapter_name: str) -> list[torch.nn.Parameter]:
    """The trainable LoRA tensors (A, B, DoRA magnitude, embedding A/B) of ONE adapter.

    Found through the tuner layers rather than by parameter name, so an adapter called "a" does not
    also match "lora_A.a2" or a base weight."""
    params: dict[int, torch.nn.Parameter] = {}
    for module in peft_model.modules():
        if not isinstance(module, BaseTunerLayer):
            continue
        frozen = set(getattr(module, "frozen_peft_weight_names", {}).get(adapter_name, ()))
        for layer_name in module.adapter_layer_names:
            container = getattr(module, layer_name, None)
            if layer_name in frozen or container is None or adapter_name not in container:
                continue
            item = container[adapter_name]
            for p in (item.parameters() if isinstance(item, torch.nn.Module) else (item,)):
                params[id(p)] = p
    return list(params.values())


@contextmanager
def adapter_session(peft_model, adapter_name: str, trainable: Sequence[torch.nn.Parameter], *, train: bool) -> Iterator[None]:
    """Make `adapter_name` the active adapter with grads on `trainable` only (train or eval mode),
    and on exit restore the active adapter, the train/eval mode and every requires_grad flag."""
    saved_grad = [(p, p.requires_grad) for p in peft_model.parameters()]
    saved_active = (peft_model.active_adapter, peft_model.base_model.active_adapter)
    was_training = peft_model.training
    try:
        peft_model.set_adapter(adapter_name)  # also flips requires_grad: overwritten just below
        for p, _ in saved_grad:
            p.requires_grad_(False)
        for p in trainable:
            p.requires_grad_(True)
        peft_model.train(train)
        yield
    finally:
        peft_model.base_model.set_adapter(saved_active[1])
        peft_model.active_adapter = saved_active[0]
        peft_model.train(was_training)
        for p, flag in saved_grad:
            p.requires_grad_(flag)


def plan_micro_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Group sequence indices into micro-batches of at most `budget` padded tokens (a longer
    sequence goes alone). Sorted by length first, so sequences of similar length share padding."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        # Sorted longest first, so the first index of a micro-batch is its padded width.
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


class RewardUpdate:
    """Train `adapter_name` of `peft_model` on rewarded responses; call `step()` until it returns
    True, then read `result`.

    The adapter's weights change in place. If the job is abandoned or raises half-way, the adapter
    holds partly trained weights: the caller must reload the source revision.
    """

    def __init__(
        self,
        peft_model,
        tokenizer,
        adapter_name: str,
        groups: tuple[TrainingGroup, ...],
        params: TrainingParams,
        context_length: int,
        *,
        micro_batch_tokens: int = MICRO_BATCH_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ):
        if adapter_name not in peft_model.peft_config:
            raise ValueError(f"adapter {adapter_name!r} is not loaded (loaded: {sorted(peft_model.peft_config)})")
        if not groups:
            raise ValueError("a training needs at least one group")
        for g in groups:
            if len(g.responses) != len(g.rewards) or not g.responses:
                raise ValueError(f"a group needs one reward per response, got {len(g.responses)} responses and {len(g.rewards)} rewards")
        if params.learning_steps < 1:
            raise ValueError(f"learning_steps must be at least 1, got {params.learning_steps}")
        self.model = peft_model
        self.tokenizer = tokenizer
        self.adapter_name = adapter_name
        self.groups = groups
        self.params = params
        self.context_length = context_length
        self.micro_batch_tokens = micro_batch_tokens
        self.clock = clock
        self.result: TrainingResult | None = None

        self._phase = "prepare"
        self._started: float | None = None
        self._cursor = 0  # next micro-batch of the current phase
        self._steps = 0
        self._metrics = (0.0, 0.0, 0.0)  # loss, kl, clip fraction of the step in progress

    @property
    def done(self) -> bool:
        return self.result is not None

    def step(self) -> bool:
        """Do one unit of work; True once the training is finished and `result` is set."""
        if self.result is not None:
            return True
        if self._phase == "failed":
            raise RuntimeError("this training job failed earlier; start a new one from the source revision")
        if self._started is None:
            self._started = self.clock()
        try:
            with torch.inference_mode(False):
                {"prepare": self._prepare, "score": self._score, "train": self._train}[self._phase]()
        except BaseException:
            self._phase = "failed"
            self._release()
            raise
        return self.result is not None

    # -- units of work -------------------------------------------------------------------------

    def _prepare(self) -> None:
        rewards = [list(g.rewards) for g in self.groups]
        self._reward_mean, self._reward_std = reward_stats(rewards)
        reason = no_signal_reason(rewards)
        if reason:
            self._finish(changed=False, reason=reason, tokens=0, metrics=None)
            return

        # Groups without signal have all-zero advantages: they would only add KL terms, at full
        # compute cost, so they are left out of the batch.
        encoded: list[Encoded] = []
        advantages: list[float] = []
        for g in self.groups:
            if not has_signal(g.rewards):
                continue
            for response, advantage in zip(g.responses, group_advantages(g.rewards)):
                encoded.append(encode_pair(self.tokenizer, g.messages, response, self.context_length))
                advantages.append(advantage)
        self._encoded = encoded
        self._advantages = torch.tensor(advantages, dtype=torch.float32)  # (N,)
        self._micro = plan_micro_batches([len(e) for e in encoded], self.micro_batch_tokens)
        self._tokens = sum(len(e.completion) for e in encoded)
        self._pad = pad_id(self.tokenizer)
        self._device = next(self.model.parameters()).device

        self._params = adapter_parameters(self.model, self.adapter_name)
        assert self._params, f"adapter {self.adapter_name!r} has no LoRA parameters"
        if any(p.is_inference() for p in self._params):
            raise RuntimeError(
                f"adapter {self.adapter_name!r} was loaded under torch.inference_mode(); its tensors cannot be "
                "trained: load adapters under torch.no_grad() instead"
            )
        self._optimizer = torch.optim.AdamW(self._params, lr=self.params.learning_rate, weight_decay=0.0)
        self._old: list[torch.Tensor] = []
        self._ref: list[torch.Tensor] = []
        self._phase = "score"
        self._score()

    def _score(self) -> None:
        batch = self._batch(self._cursor)
        with adapter_session(self.model, self.adapter_name, (), train=False), torch.no_grad():
            self._old.append(sequence_logprobs(self.model, batch))  # (b, T - 1)
            with self.model.disable_adapter():
                self._ref.append(sequence_logprobs(self.model, batch))  # (b, T - 1)
        self._advance("train")

    def _train(self) -> None:
        i = self._cursor
        batch = self._batch(i)
        advantages = self._advantages[self._micro[i]].to(self._device)  # (b,)
        with adapter_session(self.model, self.adapter_name, self._params, train=True), torch.enable_grad():
            logp = sequence_logprobs(self.model, batch)  # (b, T - 1)
            out = grpo_loss(
                logp, self._old[i], self._ref[i], advantages, batch.logprob_mask,
                epsilon=self.params.epsilon, beta=self.params.beta, num_tokens=self._tokens,
            )
            out.loss.backward()
        loss, kl, clip = self._metrics
        self._metrics = (loss + out.loss.item(), kl + out.kl.item(), clip + out.clip_fraction.item())
        if i + 1 < len(self._micro):
            self._cursor += 1
            return

        torch.nn.utils.clip_grad_norm_(self._params, self.params.max_grad_norm)
        self._optimizer.step()
        self._optimizer.zero_grad(set_to_none=True)
        self._steps += 1
        self._cursor = 0
        last, self._metrics = self._metrics, (0.0, 0.0, 0.0)
        if self._steps == self.params.learning_steps:
            self._finish(changed=True, reason="", tokens=self._tokens, metrics=last)

    # -- helpers -------------------------------------------------------------------------------

    def _batch(self, i: int):
        return collate([self._encoded[j] for j in self._micro[i]], self._pad, self._device)

    def _advance(self, next_phase: str) -> None:
        self._cursor += 1
        if self._cursor == len(self._micro):
            self._phase, self._cursor = next_phase, 0

    def _finish(self, *, changed: bool, reason: str, tokens: int, metrics: tuple[float, float, float] | None) -> None:
        """Set the result (metrics are those of the LAST optimiser step) and free training state."""
        loss, kl, clip = metrics if metrics is not None else (None, None, None)
        self.result = TrainingResult(
            changed=changed, reason=reason, loss=loss, kl=kl,
            reward_mean=self._reward_mean, reward_std=self._reward_std, clip_fraction=clip,
            tokens=tokens, steps=self._steps, duration_ms=round((self.clock() - self._started) * 1000),
        )
        self._release()

    def _release(self) -> None:
        """Drop gradients, optimiser state and cached log-probs (they can be large on the device)."""
        for p in getattr(self, "_params", ()):
            p.grad = None
        self._optimizer = None
        self._old, self._ref = [], []
