"""The fixed cost of a request over HTTP, this checkout against another one, side by side.

    .venv/bin/python bench/fixed_cost.py --against DIR [--reps 80] [--redis URL]

DIR is another checkout of the project (e.g. `git archive <commit> | tar -x -C DIR`; it uses this
virtualenv). One server per checkout (uvicorn in a subprocess, its own SQLite data directory, the demo
Llama weights of that checkout), each with a user model trained once; then, --reps times, in an order
that alternates between the two servers: a 1-token generation of the user model, of the base model,
`GET /v1/models/{id}` and `GET /v1/health`. Client-side medians and this tree's time over the other's.
--redis URL serves both with that Redis as their shared cache (REDIS_URL, as several web processes
are deployed; each server in a namespace of its own). The ratio against the engine's own time is
section 3b of bench/serving.py.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import ROOT, Server, busy_note, log, machine, median, table, write_json

PROMPT = [{"role": "user", "content": "What are the months of the year?"}]


def prepared(root: Path, env: dict) -> tuple[Server, object, dict]:
    server = Server(checkpoint=None, threads=1, root=root, env=env).start()
    api = server.client()
    info = api.create_model("fixed-cost", rank=16)
    api.train({"model": info["id"], "learning_rate": 1e-3, "learning_steps": 1, "messages": [{"role": "user", "content": "Hi"}],
               "responses": [{"content": "Hello.", "reward": 1.0}, {"content": "No.", "reward": 0.0}]})
    return server, api, {"model": info["id"], "messages": PROMPT, "max_tokens": 1, "temperature": 0}


def forget_namespaces(url: str, namespaces: list[str]) -> None:
    """Leave the Redis as it was: the servers' counters have no expiry."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        for namespace in namespaces:
            for key in client.scan_iter(f"{namespace}:*"):
                client.delete(key)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", required=True, help="another checkout of the project")
    parser.add_argument("--reps", type=int, default=80)
    parser.add_argument("--redis", help="a Redis URL: both servers use it as their shared cache")
    args = parser.parse_args()
    info = machine()
    trees = {"this tree": ROOT, "other": Path(args.against).resolve()}
    log(f"starting one server per checkout ({busy_note()})")
    def env(i: int) -> dict:
        return {"REDIS_URL": args.redis, "TIGER_NAMESPACE": f"bench-fixed-cost-{os.getpid()}-{i}"} if args.redis else {}

    sides = {name: prepared(root, env(i)) for i, (name, root) in enumerate(trees.items())}
    try:
        probes = {
            "1-token generation, user model": lambda api, body: api.generate(body),
            "1-token generation, base model": lambda api, body: api.generate({**body, "model": "llama-3.1-8b"}),
            "GET /v1/models/{id}": lambda api, body: api.http.get(f"/v1/models/{body['model']}").raise_for_status(),
            "GET /v1/health": lambda api, body: api.http.get("/v1/health").raise_for_status(),
        }
        samples = {name: {p: [] for p in probes} for name in sides}
        for _ in range(10):  # warm-up: adapters loaded, connections open
            for _, api, body in sides.values():
                for fn in probes.values():
                    fn(api, body)
        names = list(sides)
        for rep in range(args.reps):
            for name in names if rep % 2 == 0 else names[::-1]:
                _, api, body = sides[name]
                for probe, fn in probes.items():
                    t0 = time.perf_counter()
                    fn(api, body)
                    samples[name][probe].append((time.perf_counter() - t0) * 1e3)
    finally:
        for server, api, _ in sides.values():
            api.close()
            server.stop()
        if args.redis:
            forget_namespaces(args.redis, [env(i)["TIGER_NAMESPACE"] for i in range(len(trees))])
    summary = {name: {p: median(v) for p, v in per.items()} for name, per in samples.items()}
    end = os.getloadavg()[0]
    cache = f"Redis at {args.redis}" if args.redis else "each server's memory"
    table(f"Fixed cost over HTTP, client-side medians of {args.reps} alternating repetitions, shared cache: {cache} (load "
          f"{info['load_average_at_start'][0]:.2f} -> {end:.2f}); other = {args.against}",
          ["request", "this tree ms", "other ms", "this / other"],
          [[p, summary["this tree"][p], summary["other"][p], f"{summary['this tree'][p] / summary['other'][p]:.2f}x"]
           for p in probes])
    write_json("fixed_cost_against", {"machine": info, "args": vars(args), "summary": summary, "samples": samples,
                                      "load_average_at_end": end})


if __name__ == "__main__":
    main()
