"""The engine's pipe alone: streamed requests through EngineProcess against the Engine in this process.

    .venv/bin/python bench/engine_pipe.py [--reps 15] [--streams 8] [--max-tokens 64]
    .venv/bin/python bench/engine_pipe.py --against DIR [--rounds 4] [--reps 5]

No HTTP: the same greedy requests (demo Llama base, end-of-turn tokens banned so every stream runs to
--max-tokens) go to an Engine in this process and to an EngineProcess (the engine in a child, every
event crossing the socket pair to a reader thread here), in alternating order. Two settings: one
stream alone, and --streams streams at once (one event per stream per decode step). Reports ms per
token of a stream (first text to Done) and the child against the in-process engine.

--against DIR compares two versions of the engine side by side: DIR is another checkout of the
project (e.g. `git archive <commit> | tar -x -C DIR`); --rounds rounds, each running the measurement
above in a fresh process on this tree and on DIR, in alternating order.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import ROOT, busy_note, log, machine, median, table, write_json


def run_streams(engine, n: int, max_tokens: int, eos_ids, tag: str) -> float:
    """ms per token of the median stream of `n` streams sent at once."""
    from inference.engine.types import GenerationRequest, SamplingParams

    first, last, tokens = [None] * n, [None] * n, [0] * n
    left = threading.Semaphore(0)

    def collector(i):
        def on_event(event):
            if event.kind == "delta" and first[i] is None:
                first[i] = time.perf_counter()
            elif event.kind in ("done", "failed"):
                last[i] = time.perf_counter()
                tokens[i] = getattr(event, "completion_tokens", 0)
                left.release()
        return on_event

    params = SamplingParams(temperature=0, max_tokens=max_tokens, logit_bias=tuple((t, -100.0) for t in sorted(eos_ids)))
    for i in range(n):
        engine.submit(GenerationRequest(request_id=f"{tag}-{i}-{time.time_ns()}", base="b", params=params,
                                        messages=({"role": "user", "content": f"Tell me a story number {i}."},)),
                      collector(i))
    for _ in range(n):
        assert left.acquire(timeout=120)
    assert tokens == [max_tokens] * n, tokens
    return median([(b - a) * 1e3 / (max_tokens - 1) for a, b in zip(first, last)])


def measure(root: Path, args) -> dict:
    """{"<engine> <streams>": [ms/token per repetition]} for the project at `root`."""
    sys.path.insert(0, str(root))
    import torch

    torch.set_num_threads(args.threads)
    from inference.engine import process
    from inference.engine.checkpoint import inspect_checkpoint
    from inference.engine.config import EngineConfig
    from inference.engine.process import EngineProcess
    from inference.engine.serving.engine import Engine

    assert Path(process.__file__).resolve().is_relative_to(root.resolve()), process.__file__
    path = str(root / "inference" / "engine" / "demo" / "weights" / "llama-3.1-8b-demo")
    eos_ids = inspect_checkpoint(path).eos_token_ids
    config = EngineConfig(cpu_threads=args.threads)
    engines = {"in this process": Engine({"b": path}, config), "child process": EngineProcess({"b": path}, config)}
    runs: dict[str, list[float]] = {}
    try:
        for engine in engines.values():  # load and warm up
            engine.start("b")
            for n in (1, args.streams):
                run_streams(engine, n, args.max_tokens, eos_ids, "warm")
        for rep in range(args.reps):
            order = list(engines) if rep % 2 == 0 else list(engines)[::-1]
            for n in (1, args.streams):
                for mode in order:
                    runs.setdefault(f"{mode} {n}", []).append(
                        run_streams(engines[mode], n, args.max_tokens, eos_ids, f"r{rep}"))
    finally:
        for engine in engines.values():
            engine.shutdown()
    return runs


def against(args, info) -> None:
    trees = {"this tree": ROOT, "other": Path(args.against).resolve()}
    runs: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    for r in range(args.rounds):
        for name in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
            # cwd: the engine's child (python -m inference.engine.process) imports from there first
            out = subprocess.run([sys.executable, __file__, "--side", str(trees[name]), "--reps", str(args.reps),
                                  "--streams", str(args.streams), "--max-tokens", str(args.max_tokens),
                                  "--threads", str(args.threads)],
                                 cwd=trees[name], capture_output=True, text=True, check=True).stdout
            for key, values in json.loads(out.strip().splitlines()[-1]).items():
                runs[name].setdefault(key, []).extend(values)
        log(f"round {r + 1}/{args.rounds} ({busy_note()})")
    end = busy_note()
    summary = {name: {k: median(v) for k, v in rs.items()} for name, rs in runs.items()}
    # Each side's own in-process engine is its control for how busy the machine was during its turn:
    # the child against it (per repetition, side by side) is the figure to compare across trees.
    ratios = {name: {n: median([c / i for c, i in zip(rs[f"child process {n}"], rs[f"in this process {n}"])])
                     for n in (1, args.streams)} for name, rs in runs.items()}
    rows = []
    for n in (1, args.streams):
        for mode in ("child process", "in this process"):
            key = f"{mode} {n}"
            mine, theirs = summary["this tree"][key], summary["other"][key]
            rows.append([mode, n, theirs, mine, f"{mine / theirs:.3f}x"])
        rows.append(["child vs in this process", n, f"{ratios['other'][n]:.3f}x", f"{ratios['this tree'][n]:.3f}x",
                     f"{ratios['this tree'][n] / ratios['other'][n]:.3f}x"])
    table(f"ms/token of a stream, {args.max_tokens}-token greedy streams, {args.rounds} alternating rounds x "
          f"{args.reps} repetitions, medians (load {info['load_average_at_start'][0]:.2f} -> {end}); other = {args.against}",
          ["engine", "streams", "other", "this tree", "this tree vs other"], rows)
    write_json("engine_pipe_against", {"machine": info, "args": vars(args), "summary": summary, "runs": runs,
                                       "child_vs_in_process": ratios,
                                       "load_end": end})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--against", help="another checkout of the project to compare with, side by side")
    parser.add_argument("--rounds", type=int, default=4, help="with --against: fresh processes per tree")
    parser.add_argument("--side", help=argparse.SUPPRESS)  # one side of --against: print JSON
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(Path(args.side), args)))
        return
    info = machine()
    log(f"start: {busy_note()}")
    if args.against:
        against(args, info)
        return
    runs = measure(ROOT, args)
    end = busy_note()
    summary = {k: median(v) for k, v in runs.items()}
    rows = [[mode, n, summary[f"{mode} {n}"],
             f"{summary[f'{mode} {n}'] / summary[f'in this process {n}']:.3f}x"]
            for n in (1, args.streams) for mode in ("in this process", "child process")]
    table(f"ms/token of a stream, {args.max_tokens}-token greedy streams, demo Llama base, {args.reps} alternating "
          f"repetitions, medians (load {info['load_average_at_start'][0]:.2f} -> {end})",
          ["engine", "streams", "ms/token", "vs in this process"], rows)
    write_json("engine_pipe", {"machine": info, "args": vars(args), "summary": summary, "runs": runs, "load_end": end})


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
