"""60 seconds of bounded loopback load on generate: no errors, resident memory stable (figures printed)."""
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
    rss_start = rss_mib(server.process.pid)

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
        samples.append(rss_mib(server.process.pid))
        time.sleep(1)
    rss_end = rss_mib(server.process.pid)

    statuses = [status for status, _ in results]
    latencies = sorted(seconds for _, seconds in results)
    print(f"\nload: {len(results)} requests in {DURATION:.0f} s from {CLIENTS} clients "
          f"({len(results) / DURATION:.1f} req/s), errors {sum(s != 200 for s in statuses)}, "
          f"latency p50 {statistics.median(latencies) * 1000:.0f} ms p99 "
          f"{latencies[int(0.99 * (len(latencies) - 1))] * 1000:.0f} ms, RSS {rss_start:.0f} -> {rss_end:.0f} MiB "
          f"(max {max(samples):.0f})")
    assert statuses and all(s == 200 for s in statuses)
    assert rss_end - rss_start < max(64.0, 0.15 * rss_start), (rss_start, rss_end)
