"""Serving in `ray` mode: two Serve replicas against the embedded engine, the Ray hop's cost per token,
and one replica killed halfway through a load.

    .venv/bin/python bench/ray_serving.py [--quick] [--threads 1] [--checkpoint DIR]

Starts a local Ray cluster in this process (2 CPUs, small object store), deploys the engine with
`manage.py deployengine --replicas 2 --num-cpus 1` (demo Llama weights), and two servers side by side:
one with TIGER_ENGINE=ray (no model in it) and one embedded (its own engine process). Both on SQLite.

1. Throughput: 8 streamed requests at once (greedy, fixed max_tokens), total completion tokens/s, in
   alternating rounds: embedded (one engine, batching the 8) vs ray (2 replicas, 4 each).
2. The Ray hop: one streamed request alone, end to end per token and time to first token, alternating;
   the difference is what web -> deployment handle -> replica -> stream adds.
3. A replica killed halfway: 4 clients send requests back to back; after half of them finished, one
   replica is SIGKILLed. Requests lost (ended with an error, or refused), the time until the next
   request succeeds, and until Serve has both replicas running again.

Results: tables on stdout, raw numbers in bench/out/ray_serving.json.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from _common import (
    BASE, ROOT, ApiError, Server, add_common_args, busy_note, checkpoint_dir, log, machine, median, run_parallel,
    table, write_json,
)

PROMPTS = ["What are the months of the year?", "List the days of the week.", "Count to ten.", "Count down from ten."]


def body(i: int, max_tokens: int) -> dict:
    return {"model": BASE.lower(), "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            "max_tokens": max_tokens, "temperature": 0}


def start_cluster() -> str:
    import ray

    ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False, log_to_driver=False,
             namespace="tigercity-bench")
    return ray.get_runtime_context().gcs_address


def deploy(env: dict, replicas: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "deployengine", "--replicas", str(replicas), "--num-cpus", "1",
                    "--bases", BASE], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=900)
    return time.perf_counter() - t0


def health(server: Server) -> dict:
    import httpx

    return httpx.get(server.url + "/v1/health", timeout=30).json()["engine"]


def running(server: Server) -> list[dict]:
    return [r for r in health(server).get("replicas", []) if r["state"] == "RUNNING"]


def wait_running(server: Server, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while len(running(server)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} replicas did not come up: {health(server)}")
        time.sleep(0.2)


def throughput(server: Server, n: int, max_tokens: int) -> dict:
    apis = [server.client() for _ in range(n)]
    t0 = time.perf_counter()
    results = run_parallel([lambda a=a, i=i: a.stream(body(i, max_tokens), t0) for i, a in enumerate(apis)])
    wall = time.perf_counter() - t0
    for a in apis:
        a.close()
    tokens = sum(r.completion_tokens for r in results)
    return {"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall}


def single(server: Server, max_tokens: int) -> dict:
    api = server.client()
    try:
        r = api.stream(body(0, max_tokens))
    finally:
        api.close()
    return {"ttft_s": r.ttft, "per_token_s": r.per_token, "inter_token_s": r.inter_token, "tokens": r.completion_tokens}


def kill_halfway(server: Server, clients: int, per_client: int, max_tokens: int) -> dict:
    """Clients send requests back to back; after half of them finished, one replica is SIGKILLed. Then,
    beside the clients, one request at a time until one succeeds (the time to the next success), and
    the time until Serve runs two replicas again, the killed one replaced."""
    total = clients * per_client
    outcomes: list[bool] = []
    lock = threading.Lock()
    half = threading.Event()

    def client(c: int) -> None:
        api = server.client()
        try:
            for k in range(per_client):
                try:
                    api.stream(body(c + k, max_tokens))
                    ok = True
                except (ApiError, OSError) as e:
                    ok = False
                    log(f"  lost: {str(e)[:100]}")
                with lock:
                    outcomes.append(ok)
                    if len(outcomes) >= total // 2:
                        half.set()
        finally:
            api.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    half.wait()
    victim = running(server)[0]
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.perf_counter()
    log(f"  killed replica {victim['replica']} (pid {victim['pid']}) after {len(outcomes)} requests")
    api = server.client()
    refused = 0
    while True:  # a new request right after the kill: how long until one succeeds
        try:
            api.stream(body(0, max_tokens))
            break
        except (ApiError, OSError):
            refused += 1
    next_success = time.perf_counter() - killed
    api.close()
    deadline = time.monotonic() + 600
    while not (len(rs := running(server)) == 2 and victim["pid"] not in {r["pid"] for r in rs}):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the killed replica was not replaced: {health(server)}")
        time.sleep(0.2)
    replica_back = time.perf_counter() - killed
    for t in threads:
        t.join()
    return {"requests": total + 1 + refused, "lost": outcomes.count(False) + refused,
            "next_success_s": next_success, "replica_back_s": replica_back}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    args = parser.parse_args()
    rounds, max_tokens, n = (1, 16, 4) if args.quick else (3, 64, 8)
    ckpt = checkpoint_dir(args)
    log(busy_note())
    t0 = time.perf_counter()
    address = start_cluster()
    log(f"local Ray cluster at {address} in {time.perf_counter() - t0:.1f} s")
    prefix = f"bench-{os.getpid()}"
    ray_env = {"TIGER_ENGINE": "ray", "TIGER_RAY_ADDRESS": address, "TIGER_RAY_APP_PREFIX": prefix,
               "TIGER_ENGINE_TIMEOUT": "60"}
    with Server(checkpoint=ckpt, threads=args.threads, env=ray_env) as ray_server, \
            Server(checkpoint=ckpt, threads=args.threads) as embedded:
        ray_server.start()
        deploy_s = deploy(ray_server.live.env, 2)
        log(f"deployed 2 replicas in {deploy_s:.1f} s")
        wait_running(ray_server, 2)
        embedded.start()
        for server in (embedded, ray_server):  # warm: the engine process, the handle, the tokenizers
            throughput(server, 2, 4)

        tp = {"embedded": [], "ray": []}
        hop = {"embedded": [], "ray": []}
        for r in range(rounds):
            order = [("embedded", embedded), ("ray", ray_server)]
            if r % 2:
                order.reverse()
            for name, server in order:
                tp[name].append(throughput(server, n, max_tokens))
            for name, server in order:
                hop[name] += [single(server, max_tokens) for _ in range(3)]
        med = {k: median([x["tokens_per_s"] for x in v]) for k, v in tp.items()}
        table(f"1. Throughput, {n} streamed requests at once, max_tokens {max_tokens} (median of {rounds} rounds)",
                    ["engine", "tokens/s", "ratio"],
                    [["embedded (1 engine)", f"{med['embedded']:.1f}", "1.00"],
                     ["ray (2 replicas)", f"{med['ray']:.1f}", f"{med['ray'] / med['embedded']:.2f}"]])
        per = {k: median([x["per_token_s"] for x in v]) * 1000 for k, v in hop.items()}
        inter = {k: median([x["inter_token_s"] for x in v]) * 1000 for k, v in hop.items()}
        ttft = {k: median([x["ttft_s"] for x in v]) * 1000 for k, v in hop.items()}
        table("2. One request alone (median ms)", ["engine", "per token", "between tokens", "first token"],
                    [["embedded", f"{per['embedded']:.2f}", f"{inter['embedded']:.2f}", f"{ttft['embedded']:.1f}"],
                     ["ray", f"{per['ray']:.2f}", f"{inter['ray']:.2f}", f"{ttft['ray']:.1f}"],
                     ["ray hop", f"{per['ray'] - per['embedded']:+.2f}", f"{inter['ray'] - inter['embedded']:+.2f}",
                      f"{ttft['ray'] - ttft['embedded']:+.1f}"]])

        kill = kill_halfway(ray_server, 4, 3 if args.quick else 6, max_tokens)
        table("3. One of 2 replicas SIGKILLed halfway", ["requests", "lost", "next success (s)", "replica back (s)"],
                    [[kill["requests"], kill["lost"], f"{kill['next_success_s']:.2f}",
                      f"{kill['replica_back_s']:.1f}"]])
    path = write_json("ray_serving", {"machine": machine(), "args": vars(args) | {"checkpoint": str(ckpt)},
                                      "deploy_s": deploy_s, "throughput": tp, "single": hop, "kill": kill})
    log(f"raw numbers: {path}")


if __name__ == "__main__":
    main()
