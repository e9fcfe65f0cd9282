"""One fine-tuning job (supervised and/or DPO stages over a dataset) of one LoRA adapter, in slices.

The engine thread calls `step()` between decode steps; each call runs the job's generator to its
next `yield`: one micro-batch forward (+ backward), one chunk of tokenisation, or the end of an
optimiser step. Between calls the model is left as found (eval mode, active adapter, requires_grad
flags: `reward_update.adapter_session`), so generation of other adapters runs in between.

Order of work: encode the examples; score the preference pairs under the adapter as it is at job
start (the DPO reference, kept as per-sequence sums); then per stage: evaluate, and per epoch the
shuffled batches, each one optimiser step accumulated over micro-batches of at most
`micro_batch_tokens` padded tokens, with validation `evals_per_epoch` times an epoch. With early
stopping a stage stops after `patience` evaluations without an improvement above `threshold`, and
its best evaluated weights are restored before the next stage (or the end).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import torch

from .dpo_loss import dpo_loss
from .finetune_data import encode_preference, encode_supervised, epoch_batches, micro_batches, steps_per_epoch
from .logprobs import Encoded, collate, pad_id, sequence_logprobs
from .reward_update import adapter_parameters, adapter_session
from .sft_loss import sft_loss
from ..types import FineTuneRequest, FineTuneResult, FineTuneStage

MICRO_BATCH_TOKENS = 2048  # padded tokens per forward/backward: bounds memory and the length of a slice
ENCODE_CHUNK = 64  # examples tokenised per slice

Emit = Callable[[str, str, dict], None]  # (type, message, data)


class FineTuneJob:
    """Train `adapter_name` of `peft_model` on a dataset; call `step()` until it returns True, then
    read `result`. The adapter changes in place: a job abandoned half-way leaves it partly trained,
    so the caller drops it (the source revision on disk is untouched)."""

    def __init__(self, peft_model, tokenizer, adapter_name: str, req: FineTuneRequest, context_length: int,
                 emit: Emit, *, micro_batch_tokens: int = MICRO_BATCH_TOKENS,
                 clock: Callable[[], float] = time.monotonic):
        if adapter_name not in peft_model.peft_config:
            raise ValueError(f"adapter {adapter_name!r} is not loaded")
        for stage in req.stages:
            train = req.supervised_train if stage.method == "supervised" else req.preference_train
            if not train:
                raise ValueError(f"the {stage.method} stage has no training examples")
            if stage.n_epochs < 1 or stage.batch_size < 1 or not stage.learning_rate > 0:
                raise ValueError(f"invalid {stage.method} hyperparameters: {stage}")
        self.model = peft_model
        self.tokenizer = tokenizer
        self.adapter_name = adapter_name
        self.req = req
        self.context_length = context_length
        self.emit = emit
        self.micro_batch_tokens = micro_batch_tokens
        self.clock = clock
        self.result: FineTuneResult | None = None
        self.total_steps = sum(s.n_epochs * steps_per_epoch(self._n_train(s), s.batch_size) for s in req.stages)
        self.step_count = 0
        self.trained_tokens = 0
        self._gen: Iterator[None] | None = None
        self._failed = False

    def step(self) -> bool:
        """Do one unit of work; True once `result` is set."""
        if self.result is not None:
            return True
        if self._failed:
            raise RuntimeError("this job failed earlier")
        try:
            with torch.inference_mode(False):
                if self._gen is None:
                    self._gen = self._run()
                next(self._gen, None)
        except BaseException:
            self._failed = True
            self._release()
            raise
        return self.result is not None

    # -- the job -------------------------------------------------------------------------------

    def _run(self) -> Iterator[None]:
        started = self.clock()
        rng = random.Random(self.req.seed)
        torch.manual_seed(self.req.seed)  # LoRA dropout
        self._params = adapter_parameters(self.model, self.adapter_name)
        assert self._params, f"adapter {self.adapter_name!r} has no LoRA parameters"
        if any(p.is_inference() for p in self._params):
            raise RuntimeError("the adapter was loaded under torch.inference_mode(): its tensors cannot be trained")
        self._pad = pad_id(self.tokenizer)
        self._device = next(self.model.parameters()).device

        data = {}
        for name, examples, encode in (
            ("sft_train", self.req.supervised_train, encode_supervised),
            ("sft_valid", self.req.supervised_validation, encode_supervised),
            ("dpo_train", self.req.preference_train, encode_preference),
            ("dpo_valid", self.req.preference_validation, encode_preference),
        ):
            encoded = []
            for i in range(0, len(examples), ENCODE_CHUNK):
                encoded += [encode(self.tokenizer, e, self.context_length) for e in examples[i:i + ENCODE_CHUNK]]
                yield
            data[name] = encoded
        self._sft = {k: _SftData(data[f"sft_{k}"]) for k in ("train", "valid")}
        self._dpo = {k: _DpoData(data[f"dpo_{k}"]) for k in ("train", "valid")}
        for split in self._dpo.values():  # the reference: the adapter as the job found it
            split.ref = yield from self._pair_logps(split, range(len(split)), train=False)

        metrics: dict = {}
        best_step, stopped_early = None, False
        for stage in self.req.stages:
            outcome = yield from self._stage(stage, rng, metrics)
            best_step = outcome[0] if outcome[0] is not None else best_step
            stopped_early = stopped_early or outcome[1]
        self.result = FineTuneResult(
            steps=self.step_count, total_steps=self.total_steps, trained_tokens=self.trained_tokens,
            metrics=metrics, best_step=best_step, stopped_early=stopped_early,
            duration_ms=round((self.clock() - started) * 1000),
        )
        self._release()

    def _stage(self, stage: FineTuneStage, rng: random.Random, metrics: dict):
        sft = stage.method == "supervised"
        train = self._sft["train"] if sft else self._dpo["train"]
        valid = self._sft["valid"] if sft else self._dpo["valid"]
        per_epoch = steps_per_epoch(len(train), stage.batch_size)
        stage_steps = stage.n_epochs * per_epoch
        evals_at = {round(per_epoch * (k + 1) / self.req.evals_per_epoch) for k in range(self.req.evals_per_epoch)}
        optimizer = torch.optim.AdamW(self._params, lr=stage.learning_rate, weight_decay=0.0)
        stopping = self.req.early_stopping if len(valid) else None
        self.emit("message", f"{stage.method} training started: {len(train)} training and {len(valid)} validation "
                             f"examples, {stage.n_epochs} epochs of {per_epoch} steps", {"method": stage.method})
        best: tuple[float, int, list[torch.Tensor], dict] | None = None
        since_best = 0

        def evaluate():
            nonlocal best, since_best
            if not len(valid):
                return False
            scores = yield from (self._sft_eval(valid) if sft else self._dpo_eval(valid, stage.beta))
            metrics.update(scores)
            self.emit("metrics", f"step {self.step_count}: validation " + _fmt(scores), self._progress(stage, scores))
            if stopping is None:
                return False
            loss = scores["valid_loss"]
            if best is None or loss < best[0] - stopping.threshold:
                best, since_best = (loss, self.step_count, [p.detach().clone() for p in self._params], scores), 0
                return False
            since_best += 1
            return since_best >= stopping.patience

        yield from evaluate()
        local_step, stop = 0, False
        try:
            for epoch in range(stage.n_epochs):
                self._epoch = epoch + 1
                for b, batch in enumerate(epoch_batches(len(train), stage.batch_size, rng)):
                    for group in optimizer.param_groups:  # linear decay to zero over the stage
                        group["lr"] = stage.learning_rate * (1 - local_step / stage_steps)
                    step_metrics = yield from (self._sft_step(train, batch) if sft
                                               else self._dpo_step(train, batch, stage.beta))
                    torch.nn.utils.clip_grad_norm_(self._params, self.req.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    local_step += 1
                    self.step_count += 1
                    metrics.update(step_metrics)
                    self.emit("metrics", f"step {self.step_count}/{self.total_steps}: " + _fmt(step_metrics),
                              self._progress(stage, step_metrics))
                    if b + 1 in evals_at and (stop := (yield from evaluate())):
                        break
                if stop:
                    self.emit("message", f"early stopping at step {self.step_count}: no validation improvement above "
                                         f"{stopping.threshold} for {stopping.patience} evaluations", {})
                    break
        finally:
            optimizer.zero_grad(set_to_none=True)
            del optimizer
        self.step_count += stage_steps - local_step  # steps skipped by early stopping count as done
        if best is not None and best[1] != self.step_count:
            with torch.no_grad():
                for p, saved in zip(self._params, best[2]):
                    p.copy_(saved)
            metrics.update(best[3])
            self.emit("message", f"kept the weights of step {best[1]} (best validation loss {best[0]:.4f})",
                      {"best_step": best[1]})
        return (best[1] if best is not None else None), stop

    # -- supervised ----------------------------------------------------------------------------

    def _sft_step(self, data: _SftData, batch: list[int]):
        pairs = [j for i in batch for j in data.pairs_of[i]]
        num_tokens = sum(len(data.pairs[j].completion) for j in pairs)
        total = 0.0
        for micro in micro_batches(data.lengths, pairs, self.micro_batch_tokens):
            tokens = self._batch([data.pairs[j] for j in micro])
            with adapter_session(self.model, self.adapter_name, self._params, train=True), torch.enable_grad():
                loss = sft_loss(sequence_logprobs(self.model, tokens), tokens.logprob_mask, num_tokens)
                loss.backward()
            total += loss.item()
            self.trained_tokens += sum(data.lengths[j] for j in micro)
            yield
        return {"train_loss": total}

    def _sft_eval(self, data: _SftData):
        nll, tokens_seen = 0.0, 0
        for micro in micro_batches(data.lengths, range(len(data.pairs)), self.micro_batch_tokens):
            tokens = self._batch([data.pairs[j] for j in micro])
            with adapter_session(self.model, self.adapter_name, (), train=False), torch.no_grad():
                logp = sequence_logprobs(self.model, tokens)
            n = int(tokens.logprob_mask.sum())
            nll += sft_loss(logp, tokens.logprob_mask, n).item() * n
            tokens_seen += n
            yield
        return {"valid_loss": nll / tokens_seen, "valid_mean_token_nll": nll / tokens_seen}

    # -- preference ----------------------------------------------------------------------------

    def _dpo_step(self, data: _DpoData, batch: list[int], beta: float):
        loss_sum, margin, accuracy = 0.0, 0.0, 0.0
        for micro in micro_batches(data.lengths, batch, self.micro_batch_tokens):
            with adapter_session(self.model, self.adapter_name, self._params, train=True), torch.enable_grad():
                chosen, rejected = self._policy_logps(data, micro)
                ref = data.ref[micro].to(self._device)  # (b, 2)
                out = dpo_loss(chosen, rejected, ref[:, 0], ref[:, 1], beta, num_pairs=len(batch))
                out.loss.backward()
            loss_sum += out.loss.item()
            margin += out.margins.sum().item() / len(batch)
            accuracy += out.accuracies.sum().item() / len(batch)
            self.trained_tokens += sum(len(e) for i in micro for e in data.pairs[i])
            yield
        return {"dpo_loss": loss_sum, "reward_margin": margin, "preference_accuracy": accuracy}

    def _dpo_eval(self, data: _DpoData, beta: float):
        policy = yield from self._pair_logps(data, range(len(data)), train=False)
        out = dpo_loss(policy[:, 0], policy[:, 1], data.ref[:, 0], data.ref[:, 1], beta)
        return {"valid_loss": out.loss.item(), "valid_reward_margin": out.margins.mean().item(),
                "valid_preference_accuracy": out.accuracies.mean().item()}

    def _pair_logps(self, data: _DpoData, indices, *, train: bool):
        """(N, 2) summed completion log-probs (preferred, non-preferred), no grad, eval mode."""
        out = torch.zeros((len(data), 2), dtype=torch.float32)
        for micro in micro_batches(data.lengths, list(indices), self.micro_batch_tokens):
            with adapter_session(self.model, self.adapter_name, (), train=train), torch.no_grad():
                chosen, rejected = self._policy_logps(data, micro)
            out[micro, 0], out[micro, 1] = chosen.cpu(), rejected.cpu()
            yield
        return out

    def _policy_logps(self, data: _DpoData, micro: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Both completions of each pair in one forward (as TRL concatenates them): (b,), (b,)."""
        tokens = self._batch([data.pairs[i][0] for i in micro] + [data.pairs[i][1] for i in micro])
        sums = sequence_logprobs(self.model, tokens).sum(-1)  # (2b,)
        return sums[:len(micro)], sums[len(micro):]

    # -- helpers -------------------------------------------------------------------------------

    def _batch(self, encoded: list[Encoded]):
        return collate(encoded, self._pad, self._device)

    def _n_train(self, stage: FineTuneStage) -> int:
        return len(self.req.supervised_train if stage.method == "supervised" else self.req.preference_train)

    def _progress(self, stage: FineTuneStage, values: dict) -> dict:
        return {"step": self.step_count, "total_steps": self.total_steps, "epoch": getattr(self, "_epoch", 0),
                "method": stage.method, "trained_tokens": self.trained_tokens, **values}

    def _release(self) -> None:
        for p in getattr(self, "_params", ()):
            p.grad = None


class _SftData:
    """Encoded supervised examples: every pair, and which pairs each example became."""

    def __init__(self, encoded: list[list[Encoded]]):
        self.pairs: list[Encoded] = [p for pairs in encoded for p in pairs]
        self.lengths = [len(p) for p in self.pairs]
        self.pairs_of: list[list[int]] = []
        start = 0
        for pairs in encoded:
            self.pairs_of.append(list(range(start, start + len(pairs))))
            start += len(pairs)

    def __len__(self) -> int:
        return len(self.pairs_of)


class _DpoData:
    """Encoded preference pairs and their reference log-prob sums (N, 2)."""

    def __init__(self, pairs: list[tuple[Encoded, Encoded]]):
        self.pairs = pairs
        self.lengths = [2 * max(len(c), len(r)) for c, r in pairs]  # both rows share the padded width
        self.ref: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.pairs)


def _fmt(values: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in values.items() if isinstance(v, float))

