"""60 seconds of bounded loopback load on generate: no errors, resident memory of the web process and of the
engine process it started both stable (figures printed)."""
import os
import statistics
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.slow

DURATION = float(os.environ.get("TIGER_LOAD_SECONDS", "60"))
CLIENTS = 4


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def engine_pid(parent: int) -> int:
    """The engine child process of the web process `parent` (inference/engine/process.py)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"inference.engine.process" in cmdline:
            return int(entry)
    raise AssertionError(f"no engine process under {parent}")


def test_a_minute_of_load_gives_no_errors_and_stable_memory(server):
    key = server.create_key("load")
    headers = {"Authorization": f"Bearer {key}"}
    httpx.post(f"{server.url}/v1/models", json={"name": "loaded", "parent_model": "llama-3.1-8b"}, headers=headers)
    prompts = ["Hello!", "What is 7 + 8?", "Tell me about dogs.", "What colour is the sky?"]

    def one(client, i):
        body = {"model": "loaded" if i % 2 else "llama-3.1-8b", "max_tokens": 16, "temperature": 0.8, "seed": i,
                "messages": [{"role": "user", "content": prompts[i % len(prompts)]}], "stream": i % 3 == 0}
        started = time.monotonic()
        response = client.post(f"{server.url}/v1/generate_response", json=body, headers=headers, timeout=60)
        return response.status_code, time.monotonic() - started

    with httpx.Client() as client:  # warm up: the engine loads, caches fill
        for i in range(8):
            assert one(client, i)[0] == 200
    pids = {"web": server.process.pid, "engine": engine_pid(server.process.pid)}
    rss_start = {name: rss_mib(pid) for name, pid in pids.items()}

    results, samples, stop = [], [], time.monotonic() + DURATION

    def worker(n):
        with httpx.Client() as client:
            i = n
            while time.monotonic() < stop:
                results.append(one(client, i))
                i += CLIENTS

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        samples.append({name: rss_mib(pid) for name, pid in pids.items()})
        time.sleep(1)
    rss_end = {name: rss_mib(pid) for name, pid in pids.items()}

    statuses = [status for status, _ in results]
    latencies = sorted(seconds for _, seconds in results)
    print(f"\nload: {len(results)} requests in {DURATION:.0f} s from {CLIENTS} clients "
          f"({len(results) / DURATION:.1f} req/s), errors {sum(s != 200 for s in statuses)}, "
          f"latency p50 {statistics.median(latencies) * 1000:.0f} ms p99 "
          f"{latencies[int(0.99 * (len(latencies) - 1))] * 1000:.0f} ms, RSS "
          + ", ".join(f"{name} {rss_start[name]:.0f} -> {rss_end[name]:.0f} MiB (max {max(s[name] for s in samples):.0f})"
                      for name in pids))
    assert statuses and all(s == 200 for s in statuses)
    for name in pids:
        assert rss_end[name] - rss_start[name] < max(64.0, 0.15 * rss_start[name]), (name, rss_start, rss_end)
