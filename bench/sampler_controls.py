"""What per-row sampler controls cost: the sampling step of a decode batch, side by side in one run.

Rows:  free      - no row uses a control (the path every request without logprobs/penalties/bias/grammar takes)
       reference - the sampling step as it was before controls existed (sample_next alone)
       mixed     - a quarter of the rows use penalties + bias + logprobs, another quarter a JSON grammar

    .venv/bin/python bench/sampler_controls.py [--rows 32] [--vocab 128256] [--steps 200]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.engine.serving.base_loop import BaseModelLoop  # noqa: E402
from inference.engine.serving.controls import GrammarTokenizer, row_controls  # noqa: E402
from inference.engine.serving.sampling import make_generator, sample_next  # noqa: E402
from inference.engine.structured import json_grammar  # noqa: E402
from inference.engine.types import SamplingParams  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "inference" / "engine" / "demo" / "weights" / "llama-3.1-8b-demo"


def rows_for(params_list, vocab, grammar):
    rows = []
    for i, params in enumerate(params_list):
        request = SimpleNamespace(req=SimpleNamespace(params=params))
        rows.append(SimpleNamespace(request=request, generator=make_generator(i, torch.device("cpu")),
                                    controls=row_controls(params, vocab, torch.device("cpu"), grammar, grammar.hf)))
    return rows


def timed(fn, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=128256)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(DEMO)
    grammar = GrammarTokenizer(hf, args.vocab)
    grammar.hf = hf
    logits = torch.randn(args.rows, args.vocab)
    free = [SamplingParams(temperature=0.0 if i % 2 else 0.7) for i in range(args.rows)]
    schema = json_grammar({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
    mixed = [SamplingParams(temperature=0.7, presence_penalty=0.5, frequency_penalty=0.5, logit_bias=((5, 1.0),),
                            logprobs=2) if i % 4 == 0 else
             SamplingParams(temperature=0.7, grammar=schema) if i % 4 == 1 else free[i] for i in range(args.rows)]
    loop = SimpleNamespace(checkpoint=SimpleNamespace(tokenizer=hf, eos_token_ids=frozenset({4})))
    free_rows, mixed_rows = rows_for(free, args.vocab, grammar), rows_for(mixed, args.vocab, grammar)

    def reference():
        params = [row.request.req.params for row in free_rows]
        sample_next(logits, [p.temperature for p in params], [p.top_p for p in params],
                    [row.generator for row in free_rows])

    for row in mixed_rows:  # keep grammars alive: reset them each step (a fresh matcher accepts '{')
        if row.controls is not None and row.controls.matcher is not None:
            row.controls.forced = []

    def mixed_step():
        for row in mixed_rows:
            if row.controls is not None and row.controls.matcher is not None:
                row.controls.matcher.reset()
        BaseModelLoop._sample(loop, logits, mixed_rows)

    results = {"reference": timed(reference, args.steps),
               "free": timed(lambda: BaseModelLoop._sample(loop, logits, free_rows), args.steps),
               "mixed": timed(mixed_step, args.steps)}
    print(f"sampling step, {args.rows} rows x vocab {args.vocab}, CPU 1 thread, median of {args.steps}:")
    for name, ms in results.items():
        print(f"  {name:9s} {ms:8.3f} ms   ({ms / results['reference']:.2f}x reference)")


if __name__ == "__main__":
    main()
