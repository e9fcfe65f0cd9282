"""Shared pieces of the benchmarks: a real server, a small v1 client, timing, tables and JSON output.

Benchmarks print their figures; they are not tests. Each script starts its own server (uvicorn in a
subprocess, its own data directory) through tests/live_server.py and talks to it over HTTP only,
except where a figure is explicitly "engine in-process" or "bare PyTorch".
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

OUT = ROOT / "bench" / "out"
BASE = "Llama-3.1-8b"  # the demo Llama base model of the catalog
DEMO_DIRS = {
    "Llama-3.1-8b": ROOT / "inference" / "engine" / "demo" / "weights" / "llama-3.1-8b-demo",
    "DeepSeek-R1-8b": ROOT / "inference" / "engine" / "demo" / "weights" / "deepseek-r1-8b-demo",
}


def add_common_args(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="short smoke run (numbers are not the reported ones)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads of the server and of the in-process baselines (same for both)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help=f"checkpoint directory served as {BASE} (default: the built-in demo weights)")


def add_busy_cores_arg(parser) -> None:
    parser.add_argument("--busy-cores", type=int, default=0,
                        help="cores kept busy by a spinning process each, for the whole run (the loaded setting)")


def checkpoint_dir(args, base: str = BASE) -> Path:
    path = args.checkpoint or DEMO_DIRS[base]
    if not (path / "config.json").is_file():
        sys.exit(f"no checkpoint at {path}: the demo weights are not there yet (or pass --checkpoint DIR)")
    return path


def thread_env(threads: int) -> dict:
    """Environment that pins a process's OpenMP/MKL pools (read when torch loads)."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}


def pin_threads(threads: int) -> None:
    """The same for this process (call before torch is first imported, so that its OpenMP pool is as
    small and as passive as the server's: a spinning OpenMP worker of this process, descheduled by other
    work, would slow the in-process baselines and not the server)."""
    if "torch" not in sys.modules:
        os.environ.update(thread_env(threads))
    import torch

    torch.set_num_threads(threads)


def machine() -> dict:
    """What the figures were measured on."""
    import torch

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "gpu": torch.cuda.is_available(),
        "python": platform.python_version(), "torch": torch.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def busy_note() -> str:
    """The 1-minute load average against the core count (other processes share the CPU)."""
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    return f"load average {load:.2f} on {cores} cores" + (" (BUSY: other work is running)" if load > 0.7 * cores else "")


# -- the server --------------------------------------------------------------------------------------


class Server:
    """A real TigerCity server (tests/live_server.py) with one user and API key."""

    def __init__(self, *, checkpoint: Path | None, threads: int, env: dict | None = None,
                 data_dir: Path | None = None, user: str = "bench", root: Path = ROOT):
        from tests.live_server import LiveServer

        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tiger-bench-")
            data_dir = Path(self._tmp.name) / "data"
        # The per-key rate limit is a policy, not a cost: off, so that it never paces a benchmark.
        extra = {**thread_env(threads), "TIGER_CPU_THREADS": str(threads), "TIGER_RATE_LIMIT": "off",
                 "TIGER_LOG_LEVEL": "WARNING", **(env or {})}
        if checkpoint is not None:
            extra["TIGER_BASE_MODELS"] = json.dumps({BASE: str(checkpoint)})
        self.live = LiveServer(data_dir, extra, root)
        self.user = user
        self.key: str | None = None

    def start(self, key: str | None = None) -> "Server":
        self.live.start()
        self.key = key or self.live.create_key(self.user)
        return self

    def restart(self) -> "Server":
        """Stop and start again on the same data directory (a fresh process, same key)."""
        from tests.live_server import LiveServer

        self.live.stop()
        old = self.live
        self.live = LiveServer(old.data_dir, {k: v for k, v in old.env.items()}, old.root)
        self.live.start()
        return self

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def pid(self) -> int:
        return self.live.process.pid

    def pids(self) -> list[int]:
        """The server process and its descendants (the engine process it starts)."""
        pids, i = [self.pid], 0
        while i < len(pids):
            for task in Path(f"/proc/{pids[i]}/task").iterdir():
                try:
                    pids += [int(p) for p in (task / "children").read_text().split()]
                except OSError:
                    pass
            i += 1
        return pids

    def cpu_s(self) -> float:
        """CPU seconds (user + system, every thread) the server and its engine process have used so far."""
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def rss_kib(self) -> int:
        """Resident set size (VmRSS of /proc/<pid>/status) of the server and its engine process, in KiB."""
        total = 0
        for pid in self.pids():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            total += next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
        return total

    def client(self, timeout: float = 600) -> "Api":
        return Api(self.url, self.key, timeout)

    def stop(self) -> None:
        self.live.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ApiError(RuntimeError):
    pass


class Api:
    """The v1 endpoints the benchmarks use (blocking; one httpx client per thread)."""

    def __init__(self, url: str, key: str, timeout: float = 600):
        self.url, self.key = url, key
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)

    def _json(self, method: str, path: str, body: dict | None = None):
        r = self.http.request(method, path, json=body)
        if r.status_code >= 400:
            raise ApiError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def create_model(self, name: str, parent: str = BASE, **settings) -> dict:
        return self._json("POST", "/v1/models", {"name": name, "parent_model": parent, **settings})

    def train(self, body: dict) -> dict:
        return self._json("POST", "/v1/train", body)

    def generate(self, body: dict) -> dict:
        return self._json("POST", "/v1/generate_response", body)

    def adapter_zip(self, model_id: str, revision: int | None = None) -> bytes:
        params = {} if revision is None else {"revision": revision}
        r = self.http.get(f"/v1/models/{model_id}/adapter", params=params)
        if r.status_code >= 400:
            raise ApiError(f"adapter export: {r.status_code} {r.text[:500]}")
        return r.content

    def stream(self, body: dict, t0: float | None = None) -> "Streamed":
        """One streamed generation, timed on the client: start, each SSE event, the end."""
        out = Streamed(start=time.perf_counter() if t0 is None else t0)
        with self.http.stream("POST", "/v1/generate_response", json={**body, "stream": True}) as r:
            if r.status_code >= 400:
                r.read()
                raise ApiError(f"stream: {r.status_code} {r.text[:500]}")
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                event = json.loads(data)
                if "error" in event:
                    raise ApiError(f"stream error: {event['error']}")
                now = time.perf_counter()
                for choice in event["choices"]:
                    piece = choice["delta"].get("content")
                    if piece:
                        out.event_times.append(now)
                        out.text += piece
                if "usage" in event:
                    out.completion_tokens = event["usage"]["completion_tokens"]
                    out.prompt_tokens = event["usage"]["prompt_tokens"]
                    out.finish_reason = event["choices"][0]["finish_reason"]
        out.end = time.perf_counter()
        return out

    def close(self) -> None:
        self.http.close()


@dataclass
class Streamed:
    """Client-side timings of one streamed generation (perf_counter seconds)."""

    start: float
    end: float = 0.0
    event_times: list[float] = field(default_factory=list)  # one per SSE event that carried text
    text: str = ""
    completion_tokens: int = 0
    prompt_tokens: int = 0
    finish_reason: str = ""

    @property
    def ttft(self) -> float:
        return self.event_times[0] - self.start

    @property
    def total(self) -> float:
        return self.end - self.start

    @property
    def per_token(self) -> float:
        """End to end: wall time over completion tokens."""
        return self.total / max(1, self.completion_tokens)

    @property
    def inter_token(self) -> float:
        """Decode only: first text event to the end, over the tokens after the first."""
        return (self.end - self.event_times[0]) / max(1, self.completion_tokens - 1)


def run_parallel(fns) -> list:
    """Run callables on threads started together; their results in order (re-raises the first error)."""
    results: list = [None] * len(fns)
    errors: list = []
    barrier = threading.Barrier(len(fns))

    def run(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except BaseException as e:  # reported after join
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# -- numbers ------------------------------------------------------------------------------------------


def percentile(values, q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values) -> float:
    return statistics.median(values)


def table(title: str, header: list[str], rows: list[list]) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [f"\n{title}", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def _fmt(c) -> str:
    if isinstance(c, float):
        return f"{c:.3g}" if abs(c) < 100 else f"{c:.0f}"
    return str(c)


def write_json(name: str, payload: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nraw results: {path.relative_to(ROOT)}")
    return path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- a second setting: the machine with cores taken ---------------------------------------------------

BUSY_LOOP = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


class BusyCores:
    """`count` processes that spin at 100 %, each pinned to one core (the last ones), for a run measured
    on a machine whose other work takes cores away (`with BusyCores(1): ...`)."""

    def __init__(self, count: int):
        self.count = count
        self.processes: list = []

    def __enter__(self) -> "BusyCores":
        import subprocess

        cores = sorted(os.sched_getaffinity(0))
        for core in cores[::-1][: self.count]:
            self.processes.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(core)]))
        return self

    def __exit__(self, *exc) -> None:
        for p in self.processes:
            p.kill()
            p.wait()
        self.processes = []

    def note(self) -> str:
        return f"{self.count} core(s) kept busy by a spinning process pinned to it" if self.count else "no core kept busy"
