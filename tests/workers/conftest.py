"""Fixtures for the scale-out tests: the real Redis and PostgreSQL servers, and engine workers around a
stand-in engine (tests/fakes.py).

The services are found at TIGER_TEST_REDIS_URL (redis://127.0.0.1:6379/0) and TIGER_TEST_POSTGRES_URL
(postgres://postgres@127.0.0.1:5432). Without them the tests are skipped, except under `make test` (and
CI), which sets TIGER_REQUIRE_SERVICES=1: there they fail. Every test works in a namespace of its own,
so test runs that share one Redis never see each other's requests.
"""
from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from tests.fakes import BASE, FakeEngine

REDIS_URL = os.environ.get("TIGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TIGER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


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
