"""Why the engine runs in its own process: one streamed request through two servers side by side.

    .venv/bin/python bench/engine_process.py [--reps 30] [--threads 1]

Two real servers on the same demo Llama weights: one with the engine in a child process (the
default, TIGER_ENGINE_PROCESS=1), one with the engine on a thread of the web process
(TIGER_ENGINE_PROCESS=0). The same streamed /v1/generate_response (base model, temperature 2 with a
fixed seed chosen so that it runs to --max-tokens) goes to each in turn, alternating which goes first.
Reports per-token time end to end and after the first token, the CPU of each server's processes per
token, and the child-process server against the threaded one.
"""
from __future__ import annotations

import argparse

from _common import Server, busy_note, log, machine, median, table, write_json

MODES = {"engine in a child process": "1", "engine on a thread of the web process": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    servers = {mode: Server(checkpoint=None, threads=args.threads, env={"TIGER_ENGINE_PROCESS": flag})
               for mode, flag in MODES.items()}
    try:
        for server in servers.values():
            server.start()
        clients = {mode: server.client() for mode, server in servers.items()}

        def body(seed: int) -> dict:
            return {"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "Tell me a long story."}],
                    "max_tokens": args.max_tokens, "temperature": 2, "top_p": 1, "seed": seed, "stream": True}

        first = next(iter(clients.values()))
        seed = next(s for s in range(1, 500) if first.stream(body(s)).completion_tokens == args.max_tokens)
        for client in clients.values():  # warm-up
            for _ in range(3):
                client.stream(body(seed))
        log(f"seed {seed}; {args.reps} alternating requests per server ({busy_note()})")
        runs = {mode: [] for mode in servers}
        for rep in range(args.reps):
            for mode in (list(servers) if rep % 2 == 0 else list(servers)[::-1]):
                cpu0 = servers[mode].cpu_s()
                s = clients[mode].stream(body(seed))
                assert s.completion_tokens == args.max_tokens, (mode, s.completion_tokens)
                runs[mode].append({"per_token_ms": s.per_token * 1e3, "inter_token_ms": s.inter_token * 1e3,
                                   "cpu_ms_per_token": (servers[mode].cpu_s() - cpu0) / s.completion_tokens * 1e3})
        for client in clients.values():
            client.close()
    finally:
        for server in servers.values():
            server.stop()

    summary = {mode: {key: median([r[key] for r in rs]) for key in rs[0]} for mode, rs in runs.items()}
    threaded = summary["engine on a thread of the web process"]
    table(f"Streamed request, {args.max_tokens} tokens, base model ({args.reps} alternating repetitions, "
          f"{args.threads} torch thread(s)); medians", ["server", "ms/token", "after the first token",
                                                        "CPU ms/token (all its processes)", "vs threaded"],
          [[mode, s["per_token_ms"], s["inter_token_ms"], s["cpu_ms_per_token"],
            f"{(s['per_token_ms'] / threaded['per_token_ms'] - 1) * 100:+.1f}%"] for mode, s in summary.items()])
    write_json("engine_process", {"machine": machine(), "args": vars(args), "seed": seed, "summary": summary,
                                  "runs": runs, "load": busy_note()})


if __name__ == "__main__":
    main()
