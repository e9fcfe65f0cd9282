"""A small training loop for the demo models (CPU friendly, deterministic).

The budget is a number of optimiser steps, not seconds: a clock budget buys fewer steps on a busy
machine, so the same command gave different weights. With the same steps, seed and thread count
the build writes the same bytes.

Examples are (input_ids, labels) pairs where labels are -100 outside the assistant's replies, so
the model spends its few minutes learning to answer rather than to imitate visitors.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch

Example = tuple[list[int], list[int]]  # (input_ids, labels with -100 where no loss)


@dataclass
class TrainConfig:
    steps: int = 8000  # optimiser steps (the shipped weights saw about that many)
    batch_size: int = 16  # dialogues per step (8 gives more steps but a noisier, worse model)
    lr: float = 3e-3  # peak learning rate (6e-3 stalls the loss for the first minute)
    decay_fraction: float = 0.3  # the last 30% of the steps decay the learning rate
    min_lr_ratio: float = 0.1  # down to lr * min_lr_ratio when the budget is spent
    warmup_steps: int = 30
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 1234
    log_every: int = 50


def batches(examples: list[Example], batch_size: int, pad_id: int, seed: int):
    """Endless padded batches; dialogues of similar length share a batch to waste little padding."""
    r = random.Random(seed)
    while True:
        order = list(range(len(examples)))
        r.shuffle(order)
        window = batch_size * 64
        chunks = []
        for i in range(0, len(order), window):
            part = sorted(order[i:i + window], key=lambda j: len(examples[j][0]))
            chunks += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
        r.shuffle(chunks)
        for chunk in chunks:
            T = max(len(examples[j][0]) for j in chunk)
            ids = torch.full((len(chunk), T), pad_id, dtype=torch.long)  # (B, T)
            labels = torch.full((len(chunk), T), -100, dtype=torch.long)  # (B, T)
            mask = torch.zeros((len(chunk), T), dtype=torch.long)  # (B, T)
            for row, j in enumerate(chunk):
                x, y = examples[j]
                ids[row, :len(x)] = torch.tensor(x)
                labels[row, :len(y)] = torch.tensor(y)
                mask[row, :len(x)] = 1
            yield ids, labels, mask


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Warm up, hold the peak, then decay linearly over the last steps.

    Warmup-stable-decay rather than cosine: holding the peak longer learns more in a short run.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = step / cfg.steps
    if progress < 1 - cfg.decay_fraction:
        return cfg.lr
    t = min((progress - (1 - cfg.decay_fraction)) / cfg.decay_fraction, 1.0)
    return cfg.lr * (1 - (1 - cfg.min_lr_ratio) * t)


def reply_loss(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy on the labelled positions only.

    Projecting just those hidden states onto the vocabulary skips the prompt and padding
    positions, which are most of the batch.
    """
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, C)
    targets = labels[:, 1:]  # (B, T-1): position t predicts token t+1
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])  # (N, V)
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def train(model: torch.nn.Module, examples: list[Example], pad_id: int, cfg: TrainConfig,
          log=print) -> dict:
    """Train `model` in place for `cfg.steps` steps; returns a few statistics."""
    torch.manual_seed(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    model.train()
    start = time.monotonic()
    step, tokens, ema = 0, 0, None
    for ids, labels, mask in batches(examples, cfg.batch_size, pad_id, cfg.seed):
        if step >= cfg.steps:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        loss = reply_loss(model, ids, labels, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        tokens += int(mask.sum())
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % cfg.log_every == 0:
            elapsed = time.monotonic() - start
            log(f"step {step:5d}  {elapsed:6.1f}s  loss {ema:.3f}  lr {opt.param_groups[0]['lr']:.2e}"
                f"  {tokens / max(elapsed, 1e-9):.0f} tok/s")
    model.eval()
    return {"steps": step, "tokens": tokens, "seconds": round(time.monotonic() - start, 1),
            "loss": round(ema if ema is not None else float("nan"), 4)}
