"""Micro-benchmark: the decode step of one batch whose rows use 1, 2, 4 or 8 distinct LoRA adapters.

    .venv/bin/python bench/lora_batch.py [--quick] [--threads 1] [--ranks 8 16 32 64] [--rows 8] [--busy-cores 1]

In this process, on the demo Llama base (no server): for each rank, `--rows` rows prefilled once,
then the same decode step (one token per row, against the same KV cache, rewound after each step)
timed with the rows spread over 1, 2, 4 and 8 distinct adapters of that rank, through the engine's
`AdapterCache.forward` with each of its two decode paths forced: each row's A and B gathered per
layer as a prefill does ("gathered"), and the stacks read in place by embedding bags ("bags"); the
engine takes the first below rank 32 and the second from 32 (`MixedLora.bags_from_rank`, set from
this table), and its column repeats the path it takes. As the reference, peft's own mixed-batch
forward (`peft_model(..., adapter_names=...)`). The settings alternate step by step (in a new random
order each pass), so a slow spell of the shared machine hits them all alike; the figure is the
median step time and its ratio to the one-adapter step of the same run (one code path whichever
decode path is forced, so both are taken against its pooled samples). Each mixed batch's logits
are checked against peft's.

Results: a table on stdout, raw numbers in bench/out/lora_batch.json.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from _common import (
    BASE, BusyCores, add_busy_cores_arg, add_common_args, busy_note, checkpoint_dir, log, machine, median, pin_threads, table, write_json,
)

DISTINCT = (1, 2, 4, 8)
PROMPT_TOKENS = 24


def make_adapters(model_config, rank: int, count: int, root: Path) -> list:
    """`count` adapter directories of `rank` on q/k/v/o/gate/up/down with random A and B."""
    from inference.engine.files import WEIGHTS_NAME
    from inference.engine.lora.adapters import write_initial_adapter
    from inference.engine.types import AdapterRef, LoraSpec

    refs = []
    for i in range(count):
        path = root / f"r{rank}-{i}"
        write_initial_adapter(model_config, LoraSpec(rank=rank, alpha=2.0 * rank, dropout=0.0), str(path), seed=i)
        gen = torch.Generator().manual_seed(1000 + i)
        tensors = load_file(path / WEIGHTS_NAME)
        for key, t in tensors.items():
            if ".lora_B." in key:  # small enough that activations stay sane, large enough to matter
                tensors[key] = torch.randn(t.shape, generator=gen) * 0.05
        save_file(tensors, str(path / WEIGHTS_NAME), metadata={"format": "pt"})
        refs.append(AdapterRef(key=f"r{rank}-{i}", revision=1, path=str(path)))
    return refs


class DecodeStep:
    """One decode step of `rows` rows over a KV cache prefilled once; rewound after every step."""

    def __init__(self, runner, rows: int, vocab: int):
        from inference.engine.lora.layers import BASE_ADAPTER

        gen = torch.Generator().manual_seed(0)
        prompts = [torch.randint(10, vocab, (PROMPT_TOKENS,), generator=gen).tolist() for _ in range(rows)]
        self.adapters = runner.adapters
        caches, _ = runner.prefill_many(prompts, [BASE_ADAPTER] * rows)
        self.cache = caches[0]
        # One cache for all rows: stack the prefilled rows' layers (all the same length).
        from inference.engine.serving.kv_cache import new_cache

        self.cache = new_cache(runner.model_config)
        for layer, parts in zip(self.cache.layers, zip(*(c.layers for c in caches))):
            layer.update(torch.cat([p.keys for p in parts]), torch.cat([p.values for p in parts]))
        self.inputs = {
            "input_ids": torch.randint(10, vocab, (rows, 1), generator=gen),
            "attention_mask": torch.ones(rows, PROMPT_TOKENS + 1, dtype=torch.long),
            "position_ids": torch.full((rows, 1), PROMPT_TOKENS, dtype=torch.long),
        }

    def _rewind(self) -> None:
        for layer in self.cache.layers:
            layer._klen = layer._vlen = PROMPT_TOKENS  # GrowableLayer: drop the column just written

    @torch.no_grad()
    def ours(self, names: list[str]) -> torch.Tensor:
        try:
            return self.adapters.forward(names, **self.inputs, cache=self.cache, use_cache=True).logits
        finally:
            self._rewind()

    @torch.no_grad()
    def forced(self, names: list[str], bags: bool) -> torch.Tensor:
        """The engine with one decode path at every rank: in-place bags, or A and B gathered per layer."""
        mixed = self.adapters.mixed
        threshold, mixed.bags_from_rank = mixed.bags_from_rank, 0 if bags else 1 << 30
        try:
            return self.ours(names)
        finally:
            mixed.bags_from_rank = threshold

    @torch.no_grad()
    def peft(self, names: list[str]) -> torch.Tensor:
        try:
            return self.adapters.peft_model(**self.inputs, past_key_values=self.cache, use_cache=True,
                                            adapter_names=names).logits
        finally:
            self._rewind()


def bench_rank(ckpt: Path, rank: int, args, root: Path) -> dict:
    from inference.engine.checkpoint import load_checkpoint
    from inference.engine.lora.manager import AdapterCache
    from inference.engine.serving.runner import ModelRunner

    checkpoint = load_checkpoint(str(ckpt), device="cpu")
    model = checkpoint.model
    refs = make_adapters(model.config, rank, max(DISTINCT), root)
    cache = AdapterCache(model, capacity=len(refs))
    names = [cache.acquire(r) for r in refs]
    runner = ModelRunner(model.config, torch.device("cpu"), cache)
    step = DecodeStep(runner, args.rows, model.config.vocab_size)
    settings = {d: [names[i % d] for i in range(args.rows)] for d in DISTINCT}

    # Correctness first: each mixed batch's logits against peft's (and warm-up of every path).
    max_diff = {d: max((step.forced(rows, bags) - step.peft(rows)).abs().max().item() for bags in (False, True))
                for d, rows in settings.items()}
    for _ in range(3):
        for rows in settings.values():
            step.ours(rows)
            step.forced(rows, bags=False)
            step.forced(rows, bags=True)
            step.peft(rows)

    paths = {"gathered": lambda names: step.forced(names, bags=False),
             "bags": lambda names: step.forced(names, bags=True), "peft": step.peft}
    times: dict[tuple, list[float]] = {(p, d): [] for p in paths for d in DISTINCT}
    keys = list(times)
    load = []
    shuffle = random.Random(0)
    for r in range(args.rounds):
        load.append(busy_note())
        for _ in range(args.steps):
            # A new order every pass: with a fixed rotation the same one-adapter step, timed in two
            # columns, came out 0.3 ms (~12 %) apart, each column mostly following another setting.
            order = shuffle.sample(keys, len(keys))
            for path, d in order:
                t0 = time.perf_counter()
                paths[path](settings[d])
                times[(path, d)].append(time.perf_counter() - t0)
    engine_path = "bags" if rank >= cache.mixed.bags_from_rank else "gathered"
    # One adapter runs the same code whichever decode path is forced: both paths' ratios are taken
    # against the pooled samples of that one step.
    pooled = times[("gathered", 1)] + times[("bags", 1)]
    times[("gathered", 1)] = times[("bags", 1)] = pooled
    result = {"rank": rank, "rows": args.rows, "max_abs_logit_diff_vs_peft": max_diff, "load": load,
              "engine_path": engine_path,
              "step_ms_median": {f"{p}/{d}": median(v) * 1e3 for (p, d), v in times.items()}}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--ranks", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5, help="decode steps per setting per round")
    add_busy_cores_arg(parser)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 2, 3
    ckpt = checkpoint_dir(args)
    pin_threads(args.threads)
    with BusyCores(args.busy_cores) as busy:
        run(args, ckpt, busy)


def run(args, ckpt: Path, busy: BusyCores) -> None:
    results = {"machine": machine(), "args": vars(args), "checkpoint": str(ckpt), "ranks": []}
    rows = []
    with tempfile.TemporaryDirectory(prefix="tiger-bench-lora-") as tmp:
        for rank in args.ranks:
            log(f"rank {rank} ({busy_note()})")
            res = bench_rank(ckpt, rank, args, Path(tmp))
            results["ranks"].append(res)
            ms = res["step_ms_median"]
            engine = res["engine_path"]
            for d in DISTINCT:
                rows.append([rank, d, f"{ms[f'{engine}/{d}'] / ms[f'{engine}/1']:.2f}x ({engine})",
                             ms[f"gathered/{d}"], f"{ms[f'gathered/{d}'] / ms['gathered/1']:.2f}x",
                             ms[f"bags/{d}"], f"{ms[f'bags/{d}'] / ms['bags/1']:.2f}x",
                             ms[f"peft/{d}"], f"{ms[f'peft/{d}'] / ms['peft/1']:.2f}x",
                             f"{res['max_abs_logit_diff_vs_peft'][d]:.1e}"])
    table(f"Decode step of {args.rows} rows over 1-8 distinct adapters ({BASE} demo, {args.threads} thread(s); "
          f"median of {args.rounds * args.steps} steps each, interleaved; target: 8 distinct <= 1.3x one)",
          ["rank", "distinct adapters", "engine vs one adapter", "gathered ms/step", "gathered vs one",
           "bags ms/step", "bags vs one", "peft ms/step", "peft vs one", "max |logit diff| vs peft"], rows)
    print(f"{busy.note()}; load average at the end: {busy_note()}")
    write_json("lora_batch" + ("-quick" if args.quick else "") + ("-busy" if args.busy_cores else ""), results)


if __name__ == "__main__":
    main()
