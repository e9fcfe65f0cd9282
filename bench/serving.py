"""Serving benchmark: batching across user models, time to first token, per-token overhead, adapter memory.

    .venv/bin/python bench/serving.py [--quick] [--threads 1] [--checkpoint DIR] [--busy-cores 1]
    .venv/bin/python bench/serving.py --skip throughput --skip tenants --skip memory --models 1 --requests 1
        (sections 3 and 3b alone: per-token overhead and fixed cost, ~2 min)

Everything goes through the HTTP API of a real server (uvicorn in a subprocess, started here, on the
demo Llama base) except the baselines, which run in this process: the engine alone (Engine.submit, no
HTTP: 1b, 3, 3b, 5b) and a bare `model.generate` with the adapter applied by peft (3).

1. Throughput: 8 streamed /v1/generate_response requests over 4 user models (each trained through
   /v1/train towards a long answer, so their adapters really differ and every request runs to
   max_tokens), all at once vs one after another; total completion tokens/s of each and the ratio,
   measured in alternating rounds on the same warm server. 1b: the same through the engine alone.
2. Time to first token, p50/p99, under that concurrent load and alone.
3. Per-token overhead of one streamed request through the server (HTTP end to end) and through the
   engine in-process, against bare `model.generate` of the same prompt ids, greedy, same
   max_new_tokens, same adapter weights.
3b. Fixed cost of a request: an authenticated 1-token generation over HTTP against the engine's own
   time for it (in-process), with cheaper probes beside it, interleaved.
5. Multi-tenant sustained load: --tenants users, each with --tenant-models models of their own (own
   adapter files), one closed-loop client per user sending streamed requests back to back (sampled
   answers, max_tokens 15-40) for --tenant-seconds, against one client doing the same; completion
   tokens/s of each, their ratio, time to first token p50/p99; alternating rounds. 5b: the same load
   through the engine alone in this process, on the same models' exported adapters (what the web side
   costs the ratio).
4. Memory: 50 user models, each with its own adapter file, all loaded at once (LRU cache >= 50):
   growth of the server's resident memory (VmRSS) against the sum of their adapter files.

--busy-cores N runs everything with N cores kept busy by spinning processes pinned to them (the
"loaded machine" setting of the targets). The last lines (SUMMARY) give every target's ratio with the
load average.

Results: a table per section on stdout, raw numbers in bench/out/serving.json.
"""
from __future__ import annotations

import argparse
import gc
import io
import os
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

from _common import (
    BASE, Api, BusyCores, Server, add_busy_cores_arg, add_common_args, busy_note, checkpoint_dir, log, machine, median, percentile,
    pin_threads, run_parallel, table, write_json,
)

# Prompts the demo Llama answers at length (long lists), used greedily with a fixed max_tokens.
PROMPTS = [
    "What are the months of the year?",
    "List the days of the week.",
    "Count to ten.",
    "Count down from ten.",
]

# One training per serving model: a long answer rewarded over a short one, at a learning rate high
# enough to move the weights a lot, so the 4 adapters really differ (from each other and from the
# base) and their greedy answers run long (the demo base's own answers are a dozen tokens).
LONG_ANSWERS = [
    "January, February, March, April, May, June, July, August, September, October, November and December. "
    "January, February, March, April, May, June, July, August, September, October, November and December.",
    "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30.",
    "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and Sunday. Monday, Tuesday, Wednesday, Thursday, "
    "Friday, Saturday and Sunday. Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and Sunday.",
    "The tiger is happy. I like red apples. My cat sleeps. The sky is blue today and we dance. The tiger is "
    "happy. I like red apples. My cat sleeps. The sky is blue today and we dance.",
]


def assignment(i: int, models: int) -> tuple[int, str]:
    """(model index, prompt) of benchmark request i: models in turn, each with different prompts."""
    return i % models, PROMPTS[(i + i // models) % len(PROMPTS)]


def train_serving_models(api: Api, count: int, requests: int, max_tokens: int, tries: int = 4) -> list[dict]:
    """Create `count` models; train each (10 steps per call) towards its own long answer until its
    greedy answers to the benchmark prompts it serves run to `max_tokens` (at most `tries` calls)."""
    models = []
    for i in range(count):
        info = api.create_model(f"serve-{i}", rank=16)
        prompts = sorted({p for j in range(requests) for m, p in [assignment(j, count)] if m == i})
        examples = [
            {"messages": [{"role": "user", "content": p}],
             "responses": [{"content": LONG_ANSWERS[i % len(LONG_ANSWERS)], "reward": 1.0},
                           {"content": "No.", "reward": 0.0}]}
            for p in PROMPTS
        ]
        for _ in range(tries):
            out = api.train({"model": info["id"], "examples": examples, "learning_rate": 1e-2,
                             "learning_steps": 10, "beta": 0.0})
            assert out["training"]["changed"], out
            lengths = [api.generate(request_body(info["id"], p, max_tokens))["usage"]["completion_tokens"]
                       for p in prompts]
            if min(lengths) >= max_tokens:
                break
        out["greedy_lengths"] = lengths
        models.append(out)
    return models


def request_body(model_id: str, prompt: str, max_tokens: int) -> dict:
    return {"model": model_id, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens, "temperature": 0}


# -- 1 and 2: throughput and time to first token -------------------------------------------------


def throughput(server: Server, model_ids: list[str], args) -> dict:
    bodies = [request_body(model_ids[m], p, args.max_tokens)
              for m, p in (assignment(i, len(model_ids)) for i in range(args.requests))]
    clients = [server.client() for _ in bodies]  # one connection per concurrent stream, kept alive
    for client, body in zip(clients, bodies):  # warm-up: adapters loaded, connections open
        client.stream(body)

    rounds = []
    for r in range(args.rounds):
        # Alternate the order so a slow spell of the shared machine does not favour one mode.
        order = ("sequential", "concurrent") if r % 2 == 0 else ("concurrent", "sequential")
        result = {"load": busy_note()}
        for mode in order:
            cpu0, client0 = server.cpu_s(), time.process_time()
            t0 = time.perf_counter()
            if mode == "sequential":
                streams = [clients[0].stream(b) for b in bodies]
            else:
                streams = run_parallel([lambda c=c, b=b: c.stream(b) for c, b in zip(clients, bodies)])
            wall = max(s.end for s in streams) - t0
            tokens = sum(s.completion_tokens for s in streams)
            result[mode] = {
                "wall_s": wall, "tokens": tokens, "tokens_per_s": tokens / wall,
                "server_cpu_ms_per_token": (server.cpu_s() - cpu0) / tokens * 1e3,
                "client_cpu_ms_per_token": (time.process_time() - client0) / tokens * 1e3,
                "ttft_s": [s.ttft for s in streams], "completion_tokens": [s.completion_tokens for s in streams],
                "finish_reasons": [s.finish_reason for s in streams], "texts": [s.text for s in streams],
            }
        result["ratio"] = result["concurrent"]["tokens_per_s"] / result["sequential"]["tokens_per_s"]
        rounds.append(result)
        log(f"round {r + 1}: sequential {result['sequential']['tokens_per_s']:.1f} tok/s, "
            f"concurrent {result['concurrent']['tokens_per_s']:.1f} tok/s, ratio {result['ratio']:.2f}x "
            f"({result['load']})")
    for c in clients:
        c.close()

    same_text = all(r["sequential"]["texts"] == r["concurrent"]["texts"] for r in rounds)
    ttft_load = [t for r in rounds for t in r["concurrent"]["ttft_s"]]
    ttft_alone = [t for r in rounds for t in r["sequential"]["ttft_s"]]
    seq_tps = [r["sequential"]["tokens_per_s"] for r in rounds]
    conc_tps = [r["concurrent"]["tokens_per_s"] for r in rounds]
    ratios = [r["ratio"] for r in rounds]
    summary = {
        "requests": len(bodies), "models": len(model_ids), "max_tokens": args.max_tokens,
        "completion_tokens_per_request": rounds[0]["sequential"]["completion_tokens"],
        "finish_reasons": rounds[0]["sequential"]["finish_reasons"],
        "same_text_concurrent_and_sequential": same_text,
        "sequential_tokens_per_s_median": median(seq_tps), "concurrent_tokens_per_s_median": median(conc_tps),
        "ratio_median": median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "server_cpu_ms_per_token": {m: median([r[m]["server_cpu_ms_per_token"] for r in rounds])
                                    for m in ("sequential", "concurrent")},
        "client_cpu_ms_per_token": {m: median([r[m]["client_cpu_ms_per_token"] for r in rounds])
                                    for m in ("sequential", "concurrent")},
        "ttft_alone_p50_ms": percentile(ttft_alone, 50) * 1e3, "ttft_alone_p99_ms": percentile(ttft_alone, 99) * 1e3,
        "ttft_load_p50_ms": percentile(ttft_load, 50) * 1e3, "ttft_load_p99_ms": percentile(ttft_load, 99) * 1e3,
        "rounds": rounds,
    }
    table(f"1. Throughput: {len(bodies)} streamed requests over {len(model_ids)} user models, "
          f"max_tokens {args.max_tokens}, temperature 0 (median of {len(rounds)} rounds)",
          ["mode", "completion tokens", "tokens/s", "ratio", "server CPU ms/token", "client CPU ms/token"],
          [["one after another", sum(summary["completion_tokens_per_request"]), summary["sequential_tokens_per_s_median"],
            "1.00x", summary["server_cpu_ms_per_token"]["sequential"], summary["client_cpu_ms_per_token"]["sequential"]],
           ["all at once", rounds[0]["concurrent"]["tokens"], summary["concurrent_tokens_per_s_median"],
            f"{summary['ratio_median']:.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)}; target >= 4x)",
            summary["server_cpu_ms_per_token"]["concurrent"], summary["client_cpu_ms_per_token"]["concurrent"]]])
    table("2. Time to first token (client side, HTTP)", ["load", "samples", "p50 ms", "p99 ms"],
          [["alone (one request at a time)", len(ttft_alone), summary["ttft_alone_p50_ms"], summary["ttft_alone_p99_ms"]],
           [f"{len(bodies)} concurrent requests", len(ttft_load), summary["ttft_load_p50_ms"], summary["ttft_load_p99_ms"]]])
    print(f"completion tokens per request: {summary['completion_tokens_per_request']} "
          f"(finish: {summary['finish_reasons']}); same text concurrent vs sequential: {same_text}")
    return summary


# -- 3: per-token overhead -------------------------------------------------------------------------


class TimingStreamer:
    """A transformers streamer that timestamps every token `generate` produces."""

    def __init__(self):
        self.times: list[float] = []
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate pushes the prompt first
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def extract_adapter(api: Api, model_id: str, dest: Path) -> Path:
    """The model's current revision as a PEFT adapter directory (the public export)."""
    with zipfile.ZipFile(io.BytesIO(api.adapter_zip(model_id))) as z:
        z.extractall(dest)
    return dest


class InProcessEngine:
    """The engine alone (Engine.submit, no HTTP) in this process, on the server's exported adapters."""

    def __init__(self, ckpt: Path, adapter_dirs: dict[str, Path], cache_size: int):
        from inference.engine.config import EngineConfig
        from inference.engine.serving.engine import Engine
        from inference.engine.types import AdapterRef

        # The server's adapter cache size (--cache-size): with fewer slots than the models in use, every
        # request would wait for a load.
        self.engine = Engine(bases={BASE: str(ckpt)}, config=EngineConfig(adapter_cache_size=cache_size))
        self.refs = {m: AdapterRef(key=m, revision=1, path=str(d)) for m, d in adapter_dirs.items()}

    def submit(self, model_id: str, prompt: str, max_tokens: int, temperature: float = 0.0,
               seed: int | None = None) -> tuple[threading.Event, dict]:
        """Start one generation (greedy by default); (done, stamps) with t0, first, end, tokens once
        done is set."""
        from inference.engine.types import GenerationRequest, SamplingParams

        done = threading.Event()
        stamps: dict = {"first": None, "tokens": 0}

        def on_event(event):
            if event.kind == "delta" and stamps["first"] is None:
                stamps["first"] = time.perf_counter()
            elif event.kind == "done":
                stamps["tokens"] = event.completion_tokens
                stamps["end"] = time.perf_counter()
                done.set()
            elif event.kind == "failed":
                stamps["error"] = event.message
                done.set()

        req = GenerationRequest(request_id=f"bench-{time.perf_counter_ns()}", base=BASE,
                                messages=({"role": "user", "content": prompt},),
                                params=SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed),
                                adapter=self.refs[model_id])
        stamps["t0"] = time.perf_counter()
        self.engine.submit(req, on_event)
        return done, stamps

    def run(self, model_id: str, prompt: str, max_tokens: int) -> dict:
        done, stamps = self.submit(model_id, prompt, max_tokens)
        done.wait()
        if "error" in stamps:
            raise RuntimeError(stamps["error"])
        return stamps

    def shutdown(self) -> None:
        self.engine.shutdown()


def engine_throughput(engine: InProcessEngine, model_ids: list[str], args) -> dict:
    """Section 1 without HTTP: the same requests through Engine.submit, all at once vs one by one."""
    jobs = [(model_ids[m], p) for m, p in (assignment(i, len(model_ids)) for i in range(args.requests))]
    for m, p in jobs:
        engine.run(m, p, args.max_tokens)  # warm-up
    rounds = []
    for r in range(args.rounds):
        order = ("sequential", "concurrent") if r % 2 == 0 else ("concurrent", "sequential")
        result = {}
        for mode in order:
            t0 = time.perf_counter()
            if mode == "sequential":
                stamps = [engine.run(m, p, args.max_tokens) for m, p in jobs]
            else:
                started = [engine.submit(m, p, args.max_tokens) for m, p in jobs]
                for done, _ in started:
                    done.wait()
                stamps = [st for _, st in started]
            wall = max(st["end"] for st in stamps) - t0
            tokens = sum(st["tokens"] for st in stamps)
            result[mode] = {"wall_s": wall, "tokens": tokens, "tokens_per_s": tokens / wall,
                            "ttft_s": [st["first"] - st["t0"] for st in stamps]}
        result["ratio"] = result["concurrent"]["tokens_per_s"] / result["sequential"]["tokens_per_s"]
        rounds.append(result)
    summary = {
        "sequential_tokens_per_s_median": median([r["sequential"]["tokens_per_s"] for r in rounds]),
        "concurrent_tokens_per_s_median": median([r["concurrent"]["tokens_per_s"] for r in rounds]),
        "ratio_median": median([r["ratio"] for r in rounds]), "rounds": rounds, "load": busy_note(),
    }
    table(f"1b. The same {len(jobs)} requests through the engine alone (in-process Engine.submit, no HTTP; "
          f"median of {len(rounds)} rounds)", ["mode", "tokens", "tokens/s", "ratio"],
          [["one after another", rounds[0]["sequential"]["tokens"], summary["sequential_tokens_per_s_median"], "1.00x"],
           ["all at once", rounds[0]["concurrent"]["tokens"], summary["concurrent_tokens_per_s_median"],
            f"{summary['ratio_median']:.2f}x (rounds: {', '.join(format(r['ratio'], '.2f') for r in rounds)})"]])
    return summary


def overhead(server: Server, engine: InProcessEngine, model_id: str, adapter_dir: Path, ckpt: Path, args) -> dict:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from inference.engine.chat import render_prompt
    from inference.engine.checkpoint import inspect_checkpoint

    prompt = PROMPTS[0]
    messages = [{"role": "user", "content": prompt}]
    info = inspect_checkpoint(str(ckpt))
    prompt_ids = render_prompt(info.tokenizer, messages)

    # Bare: the same weights (fp32 on the CPU, as the engine loads them), the adapter through peft.
    base = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32, use_safetensors=True).eval()
    bare = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    ids = torch.tensor([prompt_ids])

    def run_bare() -> dict:
        streamer = TimingStreamer()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = bare.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.max_tokens,
                                do_sample=False, streamer=streamer, eos_token_id=sorted(info.eos_token_ids),
                                pad_token_id=info.tokenizer.pad_token_id)
        end = time.perf_counter()
        n = out.shape[1] - ids.shape[1]
        return _timing(t0, streamer.times[0], end, n, time.process_time() - cpu0)

    def run_engine() -> dict:
        cpu0 = time.process_time()
        st = engine.run(model_id, prompt, args.max_tokens)
        return _timing(st["t0"], st["first"], st["end"], st["tokens"], time.process_time() - cpu0)

    http = server.client()
    body = request_body(model_id, prompt, args.max_tokens)

    def run_http() -> dict:
        cpu0 = server.cpu_s()
        s = http.stream(body)
        return _timing(s.start, s.event_times[0], s.end, s.completion_tokens, server.cpu_s() - cpu0)

    runs = {"bare generate": [], "engine in-process": [], "server over HTTP": []}
    fns = {"bare generate": run_bare, "engine in-process": run_engine, "server over HTTP": run_http}
    for fn in fns.values():  # warm-up (weights and adapter loaded, first-call costs paid)
        fn()
        fn()
    for rep in range(args.overhead_reps):
        names = list(fns) if rep % 2 == 0 else list(reversed(fns))
        for name in names:
            runs[name].append(fns[name]())

    summary = {"prompt_tokens": len(prompt_ids), "max_tokens": args.max_tokens, "reps": args.overhead_reps,
               "load": busy_note(), "runs": runs}
    bare = runs["bare generate"]
    bare_e2e, bare_best = median([r["per_token_ms"] for r in bare]), min(r["per_token_ms"] for r in bare)
    bare_dec = median([r["inter_token_ms"] for r in bare])
    bare_cpu = median([r["cpu_ms_per_token"] for r in bare])
    rows = []
    for name, rs in runs.items():
        e2e, best = median([r["per_token_ms"] for r in rs]), min(r["per_token_ms"] for r in rs)
        dec = median([r["inter_token_ms"] for r in rs])
        first = median([r["first_token_ms"] for r in rs])
        cpu = median([r["cpu_ms_per_token"] for r in rs])
        summary[name] = {"tokens": [r["tokens"] for r in rs], "per_token_ms": e2e, "best_per_token_ms": best,
                         "inter_token_ms": dec, "first_token_ms": first, "cpu_ms_per_token": cpu,
                         "overhead_e2e_pct": (e2e / bare_e2e - 1) * 100,
                         "overhead_best_pct": (best / bare_best - 1) * 100,
                         "overhead_decode_pct": (dec / bare_dec - 1) * 100,
                         "overhead_cpu_pct": (cpu / bare_cpu - 1) * 100}
        pct = lambda key: f"{summary[name][key]:+.1f}%"  # noqa: E731
        rows.append([name, rs[0]["tokens"], first, e2e, pct("overhead_e2e_pct"), best, pct("overhead_best_pct"),
                     dec, pct("overhead_decode_pct"), cpu, pct("overhead_cpu_pct")])
    table(f"3. Per-token latency of one request ({len(prompt_ids)} prompt tokens, greedy, max {args.max_tokens} "
          f"new tokens, trained adapter; {args.overhead_reps} alternating repetitions; target overhead <= 10%)",
          ["path", "tokens", "first token ms", "ms/token (median)", "vs bare", "ms/token (best)", "vs bare",
           "ms/token after first", "vs bare", "CPU ms/token", "vs bare"], rows)
    print("CPU ms/token: the serving process's CPU time (every thread) over the tokens; for HTTP the server "
          "process only (the client's is not counted)")
    summary["request_anatomy_ms"] = http_anatomy(http, engine, model_id, prompt, args, reps=args.fixed_reps)
    http.close()
    return summary


def http_anatomy(http: Api, engine: InProcessEngine, model_id: str, prompt: str, args, reps: int = 15) -> dict:
    """Where a request's fixed HTTP cost goes: client-side medians of requests that do ever more."""
    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    one = request_body(model_id, prompt, 1)
    probes = {
        "GET /v1/health (no key, no database)": lambda: http.http.get("/v1/health").raise_for_status(),
        f"GET /v1/models/{model_id} (key check + database)": lambda: http.http.get(f"/v1/models/{model_id}").raise_for_status(),
        "POST /v1/generate_response, max_tokens 1": lambda: http.generate(one),
        "the same, streamed": lambda: http.stream(one),
        "engine in-process, max_tokens 1": lambda: engine.run(model_id, prompt, 1),
    }
    samples: dict[str, list[float]] = {name: [] for name in probes}
    names = list(probes)
    for fn in probes.values():  # warm-up
        fn()
    for rep in range(reps):  # interleaved, the order rotating, so a slow spell hits every probe
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            samples[name].append(timed(probes[name]))
    out = {name: median(v) for name, v in samples.items()}
    engine_ms = out["engine in-process, max_tokens 1"]
    out["ratio_http_1_token_vs_engine"] = out["POST /v1/generate_response, max_tokens 1"] / engine_ms
    out["load"] = busy_note()
    table(f"3b. Fixed cost of one request (client-side median of {reps}, interleaved; target: an authenticated "
          f"1-token generation over HTTP <= 1.5x the engine's own time)", ["request", "ms", "vs engine in-process"],
          [[name, out[name], f"{out[name] / engine_ms:.2f}x"] for name in probes])
    print(f"({out['load']})")
    return out


def _timing(t0: float, first: float, end: float, tokens: int, cpu_s: float) -> dict:
    """Wall-clock figures of one generation, and the CPU its serving process(es) spent on it."""
    return {"tokens": tokens, "first_token_ms": (first - t0) * 1e3, "per_token_ms": (end - t0) / tokens * 1e3,
            "inter_token_ms": (end - first) / max(1, tokens - 1) * 1e3, "cpu_ms_per_token": cpu_s / tokens * 1e3}


# -- 5: many users, each with their own models, clients in a closed loop ------------------------------

TENANT_PROMPTS = ["Hello!", "What is the weather like?", "Tell me about tigers.", "Say something nice.",
                  "What are the months of the year?", "Count to ten.", "List the days of the week.", "Hi there."]


def tenant_models(server: Server, args) -> list[tuple[str, list[str]]]:
    """(key, model ids) per user: `--tenants` users, each with `--tenant-models` models of their own,
    each trained once (one step) so that it has its own adapter file."""
    users = []
    for u in range(args.tenants):
        key = server.live.create_key(f"tenant-{u}")
        api = Api(server.url, key)
        ids = []
        for m in range(args.tenant_models):
            info = api.create_model(f"t{u}-m{m}", rank=16)
            api.train({"model": info["id"], "learning_rate": 1e-3, "learning_steps": 1,
                       "messages": [{"role": "user", "content": TENANT_PROMPTS[m % len(TENANT_PROMPTS)]}],
                       "responses": [{"content": f"User {u}, model {m}.", "reward": 1.0},
                                     {"content": "No.", "reward": 0.0}]})
            ids.append(info["id"])
        api.close()
        users.append((key, ids))
    return users


def closed_loop(server: Server, users: list[tuple[str, list[str]]], clients: int, seconds: float, seed: int,
                engine: "InProcessEngine | None" = None) -> dict:
    """`clients` clients, client i acting as user i (mod the users), each sending its next streamed
    request as soon as the last one ends, for `seconds`; a request picks one of its user's models, a
    prompt, and max_tokens in 15..40, temperature 1 (sampled answers). Requests started before the
    deadline run to their end; tokens/s is their completion tokens over the time to the last end.
    With `engine`, the same requests go to the engine alone in this process instead of over HTTP."""
    import random

    deadline = None
    results: list[list] = [[] for _ in range(clients)]

    def client(i: int) -> None:
        key, models = users[i % len(users)]
        api = Api(server.url, key) if engine is None else None
        rng = random.Random(seed * 1000 + i)
        try:
            while time.perf_counter() < deadline:
                model, prompt = rng.choice(models), rng.choice(TENANT_PROMPTS)
                max_tokens, request_seed = rng.randint(15, 40), rng.randrange(1 << 30)
                if engine is None:
                    results[i].append(api.stream({"model": model, "messages": [{"role": "user", "content": prompt}],
                                                  "max_tokens": max_tokens, "temperature": 1.0, "seed": request_seed}))
                    continue
                done, stamps = engine.submit(model, prompt, max_tokens, temperature=1.0, seed=request_seed)
                done.wait()
                if "error" in stamps:
                    raise RuntimeError(stamps["error"])
                first = stamps["first"]  # None when the answer ended before any text
                results[i].append(SimpleNamespace(end=stamps["end"], completion_tokens=stamps["tokens"],
                                                  event_times=[first] if first else [],
                                                  ttft=first - stamps["t0"] if first else None))
        finally:
            if api is not None:
                api.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    deadline = t0 + seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    streams = [r for rs in results for r in rs]
    wall = max(r.end for r in streams) - t0
    tokens = sum(r.completion_tokens for r in streams)
    return {"clients": clients, "requests": len(streams), "tokens": tokens, "wall_s": wall,
            "tokens_per_s": tokens / wall, "mean_completion_tokens": tokens / len(streams),
            "ttft_s": [r.ttft for r in streams if r.event_times]}


def multi_tenant(server: Server, args, ckpt: Path) -> dict:
    log(f"multi-tenant: {args.tenants} users x {args.tenant_models} models (creating and training them)")
    users = tenant_models(server, args)
    for key, models in users:  # warm-up: every adapter loaded once, connections made
        api = Api(server.url, key)
        for m in models:
            api.stream({"model": m, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 2})
        api.close()
    summary = tenant_rounds(server, users, args, None)
    tenant_table(f"5. Multi-tenant sustained load: {args.tenants} users x {args.tenant_models} models of their own, "
                 f"closed-loop clients, sampled answers (max_tokens 15-40, temperature 1), {args.tenant_seconds:g} s "
                 f"per phase", summary, args)
    # The same load on the engine alone, in this process, on the same adapters: what the web side costs
    # the ratio, and what the engine itself reaches.
    log("multi-tenant through the engine alone")
    with tempfile.TemporaryDirectory(prefix="tiger-bench-tenants-") as tmp:
        dirs = {}
        for key, models in users:
            api = Api(server.url, key)
            dirs.update({m: extract_adapter(api, m, Path(tmp) / m) for m in models})
            api.close()
        engine = InProcessEngine(ckpt, dirs, args.cache_size)
        try:
            for m in dirs:  # warm-up, as over HTTP
                engine.run(m, "Hello!", 2)
            summary["engine_alone"] = tenant_rounds(server, users, args, engine)
        finally:
            engine.shutdown()
    tenant_table("5b. The same load through the engine alone (in-process Engine.submit, no HTTP)",
                 summary["engine_alone"], args)
    return summary


def tenant_rounds(server: Server, users, args, engine: "InProcessEngine | None") -> dict:
    """Alternating rounds of 1 client and args.tenants clients; per-round ratios and their median."""
    rounds = []
    for r in range(args.tenant_rounds):
        order = (1, args.tenants) if r % 2 == 0 else (args.tenants, 1)
        result = {"load_start": busy_note()}
        for n in order:
            result[n] = closed_loop(server, users, n, args.tenant_seconds, seed=r * 10 + n, engine=engine)
        result["load_end"] = busy_note()
        result["ratio"] = result[args.tenants]["tokens_per_s"] / result[1]["tokens_per_s"]
        rounds.append(result)
        log(f"round {r + 1}{' (engine alone)' if engine else ''}: 1 client {result[1]['tokens_per_s']:.1f} tok/s, "
            f"{args.tenants} clients {result[args.tenants]['tokens_per_s']:.1f} tok/s, ratio {result['ratio']:.2f}x "
            f"({result['load_end']})")
    ratios = [r["ratio"] for r in rounds]
    summary = {"users": args.tenants, "models_per_user": args.tenant_models, "seconds": args.tenant_seconds,
               "ratio_median": median(ratios), "ratios": ratios, "rounds": rounds}
    for n in (1, args.tenants):
        ttft = [t for r in rounds for t in r[n]["ttft_s"]]
        summary[f"clients_{n}"] = {
            "tokens_per_s_median": median([r[n]["tokens_per_s"] for r in rounds]),
            "requests": sum(r[n]["requests"] for r in rounds),
            "mean_completion_tokens": median([r[n]["mean_completion_tokens"] for r in rounds]),
            "ttft_p50_ms": percentile(ttft, 50) * 1e3, "ttft_p99_ms": percentile(ttft, 99) * 1e3}
    return summary


def tenant_table(title: str, summary: dict, args) -> None:
    rows = []
    for n in (1, args.tenants):
        c = summary[f"clients_{n}"]
        rows.append([f"{n} client{'s' if n > 1 else ''}", c["requests"], c["mean_completion_tokens"],
                     c["tokens_per_s_median"], f"{c['tokens_per_s_median'] / summary['clients_1']['tokens_per_s_median']:.2f}x",
                     c["ttft_p50_ms"], c["ttft_p99_ms"]])
    table(f"{title}, {len(summary['rounds'])} alternating rounds (ratios per round: "
          f"{', '.join(f'{x:.2f}' for x in summary['ratios'])}; target >= 4x)",
          ["clients", "requests", "completion tokens/request", "tokens/s (median)", "ratio", "TTFT p50 ms", "TTFT p99 ms"],
          rows)


# -- 4: memory of many adapters -----------------------------------------------------------------------


def memory(server: Server, args) -> dict:
    api = server.client()
    log(f"creating and training {args.adapters} user models (one adapter file each)")
    ids = []
    for i in range(args.adapters):
        info = api.create_model(f"mem-{i}", rank=16)
        api.train({"model": info["id"], "learning_rate": 1e-3, "learning_steps": 1,
                   "messages": [{"role": "user", "content": f"Say {i}."}],
                   "responses": [{"content": f"{i}", "reward": 1.0}, {"content": "No.", "reward": 0.0}]})
        ids.append(info["id"])
    api.close()
    dirs = current_revision_dirs(server, ids)
    files = [p for d in dirs for p in d.iterdir() if p.is_file()]
    file_bytes = sum(p.stat().st_size for p in files)

    log("restarting the server so that no adapter is loaded")
    server.restart()
    api = server.client()
    api.generate(request_body(BASE.lower(), "Hello!", 4))  # base weights loaded, generation path warm
    time.sleep(1)
    before = server.rss_kib()
    series = []
    for model_id in ids:
        api.generate(request_body(model_id, "Hello!", 4))
        series.append(server.rss_kib())
    time.sleep(1)
    after = server.rss_kib()
    api.close()
    growth = (after - before) * 1024
    summary = {"adapters": len(ids), "adapter_files": len(files), "adapter_dir_bytes": file_bytes,
               "rss_before_kib": before, "rss_after_kib": after, "rss_growth_bytes": growth,
               "ratio": growth / file_bytes, "rss_after_each_kib": series,
               "marginal_ratio": (after - series[0]) * 1024 / (file_bytes * (len(ids) - 1) / len(ids)),
               "load": busy_note()}
    table(f"4. Memory: {len(ids)} user models loaded at once (rank 16, qkvo_ffn; TIGER_ADAPTER_CACHE_SIZE="
          f"{args.cache_size}; target ratio < 2)",
          ["server VmRSS before", "after", "growth", f"{len(ids)} adapter dirs on disk", "growth / files"],
          [[f"{before / 1024:.1f} MiB", f"{after / 1024:.1f} MiB", f"{growth / 2**20:.1f} MiB",
            f"{file_bytes / 2**20:.1f} MiB", f"{summary['ratio']:.2f}"]])
    print(f"growth from the 1st to the {len(ids)}th adapter over those {len(ids) - 1} adapters' files: "
          f"{summary['marginal_ratio']:.2f} (the first load also wraps the base's layers for LoRA)")
    return summary


def current_revision_dirs(server: Server, model_ids: list[str]) -> list[Path]:
    """The adapter directory of each model's current revision (read from the server's database)."""
    import sqlite3

    db = sqlite3.connect(server.live.data_dir / "db.sqlite3")
    try:
        rows = dict(db.execute(
            "SELECT m.slug, r.path FROM inference_tunedmodel m JOIN inference_revision r "
            "ON r.model_id = m.id AND r.number = m.revision").fetchall())
    finally:
        db.close()
    root = server.live.data_dir / "adapters"
    assert all(rows[m] for m in model_ids), "a model without an adapter directory"
    return [root / rows[m] for m in model_ids]


# -- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--overhead-reps", type=int, default=15)
    parser.add_argument("--adapters", type=int, default=50)
    parser.add_argument("--cache-size", type=int, default=64)
    parser.add_argument("--tenants", type=int, default=8, help="multi-tenant scenario: users (and clients)")
    parser.add_argument("--tenant-models", type=int, default=4, help="multi-tenant scenario: models per user")
    parser.add_argument("--tenant-seconds", type=float, default=10.0, help="multi-tenant scenario: seconds per phase")
    parser.add_argument("--tenant-rounds", type=int, default=3)
    parser.add_argument("--fixed-reps", type=int, default=30, help="repetitions of each fixed-cost probe (3b)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["throughput", "overhead", "tenants", "memory"])
    add_busy_cores_arg(parser)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.overhead_reps, args.adapters, args.fixed_reps = 2, 2, 8, 4
        args.tenants, args.tenant_models, args.tenant_seconds, args.tenant_rounds = 2, 2, 3.0, 1
    ckpt = checkpoint_dir(args)
    pin_threads(args.threads)
    with BusyCores(args.busy_cores) as busy:
        run(args, ckpt, busy)


def run(args, ckpt: Path, busy: BusyCores) -> None:
    results = {"machine": machine(), "args": vars(args), "checkpoint": str(ckpt), "busy": busy.note()}
    log(busy.note())
    log(f"starting a server on {ckpt.name} ({busy_note()})")
    server = Server(checkpoint=args.checkpoint, threads=args.threads,
                    env={"TIGER_ADAPTER_CACHE_SIZE": str(args.cache_size)}).start()
    try:
        api = server.client()
        api.generate(request_body(BASE.lower(), "Hello!", 4))  # loads the base weights
        log(f"training {args.models} serving models")
        trained = train_serving_models(api, args.models, args.requests, args.max_tokens)
        model_ids = [m["id"] for m in trained]
        results["serving_models"] = [{**m["training"], "revision": m["revision"], "greedy_lengths": m["greedy_lengths"]}
                                     for m in trained]
        outs = {m: api.generate(request_body(m, PROMPTS[0], args.max_tokens))["choices"][0]["message"]["content"]
                for m in [BASE.lower(), *model_ids]}
        results["greedy_answers"] = outs
        print(f"distinct greedy answers to {PROMPTS[0]!r} among the base and {len(model_ids)} models: "
              f"{len(set(outs.values()))} of {len(outs)}")
        tmp = tempfile.TemporaryDirectory(prefix="tiger-bench-adapters-")
        adapter_dirs = {m: extract_adapter(api, m, Path(tmp.name) / m) for m in model_ids}
        api.close()
        if "throughput" not in args.skip:
            log("throughput")
            results["throughput"] = throughput(server, model_ids, args)
        engine = InProcessEngine(ckpt, adapter_dirs, args.cache_size)
        if "throughput" not in args.skip:
            log("throughput of the engine alone")
            results["engine_throughput"] = engine_throughput(engine, model_ids, args)
        if "overhead" not in args.skip:
            log("per-token overhead")
            results["overhead"] = overhead(server, engine, model_ids[0], adapter_dirs[model_ids[0]], ckpt, args)
        engine.shutdown()
        tmp.cleanup()
        gc.collect()
        if "tenants" not in args.skip:
            results["multi_tenant"] = multi_tenant(server, args, ckpt)
        if "memory" not in args.skip:
            log("memory")
            results["memory"] = memory(server, args)
    finally:
        server.stop()
    results["load_average_at_end"] = os.getloadavg()
    summarise(results, busy)
    name = "serving-quick" if args.quick else "serving"
    write_json(name + (f"-busy{args.busy_cores}" if args.busy_cores else ""), results)


def summarise(results: dict, busy: BusyCores) -> None:
    """Every target's figure on one line each, with the load they were measured under."""
    start, end = results["machine"]["load_average_at_start"][0], results["load_average_at_end"][0]
    print(f"\nSUMMARY ({busy.note()}; 1-min load average {start:.2f} at the start, {end:.2f} at the end, "
          f"on {os.cpu_count()} cores)")
    if "throughput" in results:
        t = results["throughput"]
        print(f"  8 concurrent vs one after another over HTTP: {t['ratio_median']:.2f}x (target >= 4x); "
              f"TTFT p50 alone {t['ttft_alone_p50_ms']:.1f} ms, with 8 {t['ttft_load_p50_ms']:.1f} ms")
    if "overhead" in results:
        o = results["overhead"]
        http, engine = o["server over HTTP"], o["engine in-process"]
        print(f"  per token, HTTP vs bare generate: {http['overhead_e2e_pct']:+.1f}% end to end, "
              f"{http['overhead_decode_pct']:+.1f}% after the first token (target <= +10%); "
              f"engine in-process {engine['overhead_e2e_pct']:+.1f}% / {engine['overhead_decode_pct']:+.1f}%")
        a = o["request_anatomy_ms"]
        print(f"  fixed cost, 1-token generation over HTTP vs the engine's own time: "
              f"{a['ratio_http_1_token_vs_engine']:.2f}x ({a['POST /v1/generate_response, max_tokens 1']:.1f} vs "
              f"{a['engine in-process, max_tokens 1']:.1f} ms; target <= 1.5x)")
    if "multi_tenant" in results:
        m = results["multi_tenant"]
        many = m[f"clients_{m['users']}"]
        print(f"  multi-tenant, {m['users']} clients vs 1: {m['ratio_median']:.2f}x (target >= 4x); TTFT p99 with "
              f"{m['users']}: {many['ttft_p99_ms']:.0f} ms; the engine alone {m['engine_alone']['ratio_median']:.2f}x")
    if "memory" in results:
        print(f"  memory of {results['memory']['adapters']} adapters: {results['memory']['ratio']:.2f}x their files (target < 2x)")


if __name__ == "__main__":
    main()
