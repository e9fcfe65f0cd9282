"""Training cost: one /v1/train call against a bare PyTorch loop on the same batch and weights.

    .venv/bin/python bench/train_cost.py [--quick] [--threads 1] [--checkpoint DIR]

The same rewarded responses (groups of candidates to arithmetic prompts), the same LoRA adapter (a
user model's current revision, exported through the API), the same number of optimiser steps, timed
side by side in alternating repetitions:

- server over HTTP: POST /v1/train on a real server (client wall time: validation, the model's lock,
  the engine's work, the new revision written and fsynced, its row committed);
- engine in-process: Engine.train(TrainingRequest) -> future (adapter loaded from disk, scoring,
  steps, revision written), no HTTP and no database;
- bare PyTorch: a peft LoRA model of the same rank on the same base, the same prompt + response
  tokens (the engine's own tokenisation), plain log-softmax/gather, the clipped-ratio loss with the
  KL term, AdamW; in two variants: with the no-grad forwards the server also needs (the adapter's
  "old" log-probs and the base's reference log-probs, once per call), and optimiser steps only.

Results: a table on stdout, raw numbers in bench/out/train_cost.json.
"""
from __future__ import annotations

import argparse
import io
import random
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

from _common import (
    BASE, Server, add_common_args, busy_note, checkpoint_dir, log, machine, median, pin_threads, table, write_json,
)


def make_groups(n_groups: int, n_responses: int, seed: int = 0) -> list[dict]:
    """Groups of candidate answers to sums, right and wrong, with 0/1 rewards (every group has signal)."""
    r = random.Random(seed)
    groups = []
    for _ in range(n_groups):
        a, b = r.randint(10, 60), r.randint(10, 39)
        responses = []
        for k in range(n_responses):
            right = k % 2 == 0
            total = a + b if right else a + b + r.choice([-10, -2, -1, 1, 2, 10])
            text = r.choice([f"{a} + {b} = {total}.", f"I need {a} + {b}. {a} + {b} = {total}.",
                             f"First {a} + {b // 10 * 10} = {a + b // 10 * 10}, then add {b % 10}: {total}."])
            responses.append({"content": text, "reward": 1.0 if right else 0.0})
        groups.append({"messages": [{"role": "user", "content": f"What is {a} + {b}?"}], "responses": responses})
    return groups


class BareLoop:
    """The training computation in plain PyTorch + peft, on a model of its own."""

    def __init__(self, ckpt: Path, adapter_dir: Path, groups: list[dict], params: dict, context_length: int):
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        from inference.engine.training.advantages import group_advantages
        from inference.engine.checkpoint import load_tokenizer
        from inference.engine.training.logprobs import build_batch

        self.torch = torch
        base = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32, use_safetensors=True)
        base.requires_grad_(False)
        self.model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=True)
        self.params = params
        tokenizer = load_tokenizer(str(ckpt))
        pairs = [(g["messages"], r["content"]) for g in groups for r in g["responses"]]
        self.batch = build_batch(tokenizer, pairs, context_length)  # the engine's tokenisation
        self.advantages = torch.tensor(
            [a for g in groups for a in group_advantages([r["reward"] for r in g["responses"]])])  # (N,)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.initial = {k: v.detach().clone() for k, v in self.model.named_parameters() if v.requires_grad}
        self.mask = self.batch.response_mask[:, 1:]  # (N, T - 1)
        self.first = int(self.mask.any(dim=0).nonzero()[0])  # earliest shifted position with a response token
        self.tokens = int(self.mask.sum())
        with torch.no_grad():
            self.old, self.ref = self._scores()

    def _logp(self):
        torch = self.torch
        ids = self.batch.input_ids  # (N, T)
        # Logits only from the first position that predicts a response token (as the engine does).
        keep = ids.shape[1] - 1 - self.first
        logits = self.model(input_ids=ids, attention_mask=self.batch.attention_mask,
                            logits_to_keep=keep + 1).logits[:, :-1]  # (N, keep, V)
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, self.first + 1:, None]).squeeze(-1)
        return torch.nn.functional.pad(logp, (self.first, 0))  # (N, T - 1)

    def _scores(self):
        self.model.eval()
        old = self._logp()
        with self.model.disable_adapter():
            ref = self._logp()
        return old, ref

    def reset(self) -> None:
        """Back to the exported weights (outside the timed part)."""
        with self.torch.no_grad():
            for k, v in self.model.named_parameters():
                if k in self.initial:
                    v.copy_(self.initial[k])

    def run(self, *, score: bool) -> float:
        """One training call's computation; returns its wall time in seconds."""
        torch, p = self.torch, self.params
        t0 = time.perf_counter()
        if score:
            with torch.no_grad():
                old, ref = self._scores()
        else:
            old, ref = self.old, self.ref
        optimizer = torch.optim.AdamW(self.trainable, lr=p["learning_rate"], weight_decay=0.0)
        self.model.train()  # LoRA dropout on, as the server trains
        a = self.advantages[:, None]  # (N, 1)
        for _ in range(p["learning_steps"]):
            logp = self._logp()
            ratio = torch.exp(logp - old)
            policy = -torch.minimum(ratio * a, ratio.clamp(1 - p["epsilon"], 1 + p["epsilon"]) * a)
            d = ref - logp
            per_token = policy + p["beta"] * (torch.exp(d) - d - 1)
            loss = torch.where(self.mask, per_token, 0.0).sum() / self.tokens
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        self.model.eval()
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--groups", type=int, default=4, help="prompts per call")
    parser.add_argument("--responses", type=int, default=8, help="candidates per prompt")
    parser.add_argument("--steps", type=int, default=5, help="learning_steps")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rank", type=int, default=16)
    args = parser.parse_args()
    if args.quick:
        args.reps = 2
    ckpt = checkpoint_dir(args)
    pin_threads(args.threads)

    import torch  # noqa: F401  (after the thread count is set)

    from inference.engine.checkpoint import inspect_checkpoint
    from inference.engine.serving.engine import Engine
    from inference.engine.config import EngineConfig
    from inference.engine.types import AdapterRef, TrainingGroup, TrainingParams, TrainingRequest

    groups = make_groups(args.groups, args.responses)
    params = {"learning_rate": 1e-4, "learning_steps": args.steps, "beta": 0.04, "epsilon": 0.2}
    results = {"machine": machine(), "args": vars(args), "checkpoint": str(ckpt), "params": params}
    tmp = tempfile.TemporaryDirectory(prefix="tiger-bench-train-")
    work = Path(tmp.name)

    log(f"starting a server ({busy_note()})")
    server = Server(checkpoint=args.checkpoint, threads=args.threads).start()
    try:
        api = server.client()
        model_id = api.create_model("cost", rank=args.rank, alpha=2 * args.rank)["id"]
        api.train({"model": model_id, "examples": groups[:1], "learning_steps": 1})  # warm-up; revision 1 on disk
        with zipfile.ZipFile(io.BytesIO(api.adapter_zip(model_id))) as z:
            z.extractall(work / "source")

        info = inspect_checkpoint(str(ckpt))
        bare = BareLoop(ckpt, work / "source", groups, params, info.context_length)
        engine = Engine(bases={BASE: str(ckpt)}, config=EngineConfig())
        request_groups = tuple(
            TrainingGroup(messages=tuple(g["messages"]), responses=tuple(r["content"] for r in g["responses"]),
                          rewards=tuple(r["reward"] for r in g["responses"])) for g in groups)

        def run_engine() -> float:
            dest = work / f"engine-{uuid.uuid4().hex}"
            req = TrainingRequest(request_id=f"bench-{uuid.uuid4().hex}", base=BASE,
                                  source=AdapterRef(key="cost", revision=1, path=str(work / "source")),
                                  dest_revision=2, dest_path=str(dest), groups=request_groups,
                                  params=TrainingParams(**params))
            t0 = time.perf_counter()
            result = engine.train(req).result()
            wall = time.perf_counter() - t0
            assert result.changed, result
            shutil.rmtree(dest, ignore_errors=True)
            return wall

        def run_http() -> float:
            t0 = time.perf_counter()
            out = api.train({"model": model_id, "examples": groups, **params})
            wall = time.perf_counter() - t0
            assert out["training"]["changed"], out
            http_server_ms.append(out["training"]["duration_ms"])
            return wall

        def run_bare(score: bool):
            def fn() -> float:
                bare.reset()
                return bare.run(score=score)
            return fn

        http_server_ms: list[int] = []
        fns = {"server over HTTP": run_http, "engine in-process": run_engine,
               "bare PyTorch, with the scoring forwards": run_bare(True),
               "bare PyTorch, optimiser steps only": run_bare(False)}
        for fn in fns.values():  # warm-up
            fn()
        http_server_ms.clear()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for rep in range(args.reps):
            names = list(fns) if rep % 2 == 0 else list(reversed(fns))
            for name in names:
                times[name].append(fns[name]())
            log(f"rep {rep + 1}: " + "; ".join(f"{n} {times[n][-1] * 1e3:.0f} ms" for n in fns) + f" ({busy_note()})")
        engine.shutdown()
        api.close()
    finally:
        server.stop()
        tmp.cleanup()

    med = {name: median(ts) for name, ts in times.items()}
    scoring_name, steps_name = "bare PyTorch, with the scoring forwards", "bare PyTorch, optimiser steps only"
    # Ratios of the same repetition (measured minutes apart from the others' load), then their median.
    rep_ratio = {name: {"vs_bare_with_scoring": median([t / b for t, b in zip(ts, times[scoring_name])]),
                        "vs_bare_steps_only": median([t / b for t, b in zip(ts, times[steps_name])])}
                 for name, ts in times.items()}
    results.update(
        sequences=args.groups * args.responses, response_tokens=bare.tokens,
        padded_shape=list(bare.batch.input_ids.shape), times_s=times, median_s=med,
        http_server_reported_ms=http_server_ms, load=busy_note(),
        ratios=rep_ratio,
    )
    rows = [[name, med[name] * 1e3, f"{rep_ratio[name]['vs_bare_with_scoring']:.2f}x",
             f"{rep_ratio[name]['vs_bare_steps_only']:.2f}x"] for name in fns]
    table(f"Training cost: {args.groups} prompts x {args.responses} responses ({bare.tokens} response tokens, "
          f"padded batch {tuple(bare.batch.input_ids.shape)}), {args.steps} steps, rank {args.rank} "
          f"(medians of {args.reps} repetitions; a ratio is the median of the per-repetition ratios; target <= 1.3x)",
          ["path", "wall ms", "vs bare with scoring", "vs bare steps only"], rows)
    print(f"server-reported duration_ms of the HTTP calls (engine work only): {http_server_ms}")
    write_json("train_cost-quick" if args.quick else "train_cost", results)


if __name__ == "__main__":
    main()
