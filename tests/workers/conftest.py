"""Fixtures for the scale-out tests: the real Redis and PostgreSQL servers, and a stand-in engine.

The services are found at TIGER_TEST_REDIS_URL (redis://127.0.0.1:6379/0) and TIGER_TEST_POSTGRES_URL
(postgres://postgres@127.0.0.1:5432). Without them the tests are skipped, except under `make test` (and
CI), which sets TIGER_REQUIRE_SERVICES=1: there they fail. Every test works in a namespace of its own,
so test runs that share one Redis never see each other's requests.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest

from inference.engine.errors import CheckpointError, ContextLengthExceeded, QueueFull, UnknownBaseModel
from inference.engine.types import Done, Failed, Finished, TextDelta, TrainingResult

REDIS_URL = os.environ.get("TIGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TIGER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
BASE = "Llama-3.1-8b"


def _unreachable(what: str, error: Exception):
    message = f"{what} is not reachable: {error}"
    if os.environ.get("TIGER_REQUIRE_SERVICES") or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as e:
        _unreachable(f"Redis at {REDIS_URL}", e)
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import psycopg

    try:
        psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3).close()
    except psycopg.Error as e:
        _unreachable(f"PostgreSQL at {POSTGRES_URL}", e)
    return POSTGRES_URL


@pytest.fixture
def namespace(settings, redis_url) -> str:
    """A namespace of the test's own, and settings that point at the test Redis."""
    ns = f"test-{uuid.uuid4().hex[:12]}"
    settings.REDIS_URL = redis_url
    settings.TIGER = {**settings.TIGER, "WORKER_NAMESPACE": ns}
    return ns


class FakeEngine:
    """The Engine's methods, without torch; what it does is chosen by the last message's content:
    "too long" / "full" / "unknown" raise before streaming; "forever" streams until cancelled or shut
    down; "silent" says nothing at all; "slow N" waits N seconds, then answers; anything else streams
    its words. A training to revision 99 fails after it started; one to revision 50 takes 2.5 s."""

    def __init__(self, name: str = "engine"):
        self.name = name
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.trained: list[str] = []
        self._stopped = threading.Event()
        self._cancel_events: dict[str, threading.Event] = {}
        self._open: dict[str, object] = {}  # request id -> on_event, until its last event
        self._lock = threading.Lock()

    def start(self, base: str) -> None:
        pass

    def is_ready(self, base: str) -> bool:
        return True

    def submit(self, req, on_event) -> None:
        text = req.messages[-1]["content"]
        if text == "too long":
            raise ContextLengthExceeded(300, 256)
        if text == "full":
            raise QueueFull(7, 7)
        if text == "unknown":
            raise UnknownBaseModel(f"Unknown base model {req.base!r}")
        self.submitted.append(req.request_id)
        cancel = self._cancel_events.setdefault(req.request_id, threading.Event())
        with self._lock:
            self._open[req.request_id] = on_event

        def emit(event) -> None:
            with self._lock:
                if req.request_id not in self._open:
                    return
                if event.kind in ("done", "failed"):
                    del self._open[req.request_id]
            on_event(event)

        threading.Thread(target=self._stream, args=(text, emit, cancel), daemon=True).start()

    def _stream(self, text: str, on_event, cancel: threading.Event) -> None:
        if text == "silent":
            return
        if text.startswith("slow "):
            time.sleep(float(text.split()[1]))
            text = "done"
        words = text.split()
        sent = 0
        while text == "forever" or sent < len(words):
            if cancel.wait(0.02 if text == "forever" else 0):
                on_event(Finished(0, "cancelled", sent))
                on_event(Done(3, sent))
                return
            if self._stopped.is_set():
                return
            on_event(TextDelta(0, ("" if sent == 0 else " ") + (words[sent] if text != "forever" else "la")))
            sent += 1
        on_event(Finished(0, "stop", sent))
        on_event(Done(3, sent))

    def cancel(self, request_id: str) -> None:
        self.cancelled.append(request_id)
        if request_id in self._cancel_events:
            self._cancel_events[request_id].set()

    def train(self, req) -> Future:
        self.trained.append(req.request_id)
        future: Future = Future()

        def run():
            time.sleep(2.5 if req.dest_revision == 50 else 0.05)
            if req.dest_revision == 99:
                future.set_exception(CheckpointError("the adapter does not fit the base"))
            else:
                future.set_result(TrainingResult(changed=True, reason="", loss=0.5, kl=0.01, reward_mean=0.5,
                                                 reward_std=0.5, clip_fraction=0.0, tokens=12, steps=2,
                                                 duration_ms=50))

        threading.Thread(target=run, daemon=True).start()
        return future

    def create_adapter(self, base, spec, dest_path) -> None:
        Path(dest_path).mkdir(parents=True)
        (Path(dest_path) / "rank").write_text(str(spec.rank))

    def shutdown(self, timeout=None) -> None:
        """Like the Engine: whatever is still running gets Failed."""
        self._stopped.set()
        with self._lock:
            still_open, self._open = self._open, {}
        for on_event in still_open.values():
            on_event(Failed("The engine is shutting down", code="engine_unavailable"))


class Cluster:
    """Engine workers in this process (each with its own channel layer and Redis client, as in its own
    process) and a WorkerRuntime talking to them over Redis."""

    def __init__(self, redis_url: str, namespace: str):
        self.redis_url = redis_url
        self.namespace = namespace
        self.workers: list[tuple] = []  # (server, engine, stop event, task, layer, redis client)
        self._layers = []

    def layer(self):
        from channels_redis.core import RedisChannelLayer

        layer = RedisChannelLayer(hosts=[{"address": self.redis_url, "socket_timeout": 30}])  # as settings.py
        self._layers.append(layer)
        return layer

    def runtime(self, timeout: float = 2.0):
        from inference.workers.client import WorkerRuntime

        return WorkerRuntime(layer=self.layer(), timeout=timeout, namespace=self.namespace)

    async def start_worker(self, *, max_rows: int = 8, heartbeat: float = 0.2, grace: float = 5.0,
                           engine: FakeEngine | None = None):
        from inference.workers import coordination
        from inference.workers.server import EngineServer

        engine = engine or FakeEngine(f"engine-{len(self.workers)}")
        redis = coordination.async_client()
        server = EngineServer(engine, [BASE], layer=self.layer(), redis=redis, namespace=self.namespace,
                              max_rows=max_rows, heartbeat=heartbeat)
        stop = asyncio.Event()
        task = asyncio.create_task(server.run(stop, grace=grace))
        self.workers.append((server, engine, stop, task, redis))
        while BASE not in server.ready:
            await asyncio.sleep(0.01)
        return server, engine, stop, task

    async def close(self) -> None:
        for server, engine, stop, task, redis in self.workers:
            stop.set()
        for server, engine, stop, task, redis in self.workers:
            await asyncio.wait_for(task, 15)
            await redis.aclose()
        for layer in self._layers:
            await layer.close_pools()


@pytest.fixture
async def cluster(redis_url, namespace):
    cluster = Cluster(redis_url, namespace)
    yield cluster
    await cluster.close()
