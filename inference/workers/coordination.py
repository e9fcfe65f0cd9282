"""What processes share through Redis besides the channel layer: a lock, request claims, the worker list.

Every key starts with settings.TIGER["WORKER_NAMESPACE"], like the channels (see protocol.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager, suppress

import redis
import redis.asyncio
from django.conf import settings

log = logging.getLogger(__name__)

LOCK_TTL_SECONDS = 30.0  # a lock whose holder died frees itself after this long
REGISTRY_TTL_SECONDS = 5  # a worker that stopped refreshing its entry drops out of the list after this long
CLAIM_MARGIN_SECONDS = 60  # how long a claim outlives its request's deadline


def key(*parts) -> str:
    return ":".join([settings.TIGER["WORKER_NAMESPACE"], *map(str, parts)])


def async_client() -> redis.asyncio.Redis:
    """A client for the running event loop (a redis.asyncio client must not outlive its loop)."""
    return redis.asyncio.Redis.from_url(settings.REDIS_URL)


@asynccontextmanager
async def redis_lock(name: str, *, ttl: float = LOCK_TTL_SECONDS):
    """Hold the Redis lock `name` (waiting as long as it takes) while the block runs.

    The lock expires `ttl` seconds after its last renewal, and is renewed every ttl/3 while the block
    runs: a holder that dies frees it within `ttl`, a holder that lives keeps it however long it works.
    """
    client = async_client()
    lock = client.lock(key("lock", name), timeout=ttl, sleep=0.05)
    try:
        await lock.acquire()
        renewing = asyncio.create_task(_renew(lock, ttl / 3))
        try:
            yield
        finally:
            renewing.cancel()
            with suppress(asyncio.CancelledError):
                await renewing
            try:
                await lock.release()
            except redis.exceptions.LockError:
                log.warning("the Redis lock %s had expired before its holder released it", name)
    finally:
        await client.aclose()


async def _renew(lock, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await lock.reacquire()
        except (redis.exceptions.LockError, redis.exceptions.ConnectionError):
            log.exception("could not renew the Redis lock %s", lock.name)


async def claim(client: redis.asyncio.Redis, request_id: str, owner: str, *, expires: float) -> bool:
    """Whether `owner` is the first to take `request_id`, a request its sender waits for until `expires`.

    channels_redis delivers a named-channel message at least once, not exactly once: a receiver that
    starts while another has just popped a message may put it back from the in-flight backup queue. So
    several workers on one channel can see the same request; only the claimant runs it. A copy seen
    after `expires` is dropped anyway, so the claim only has to outlive that (plus clock skew).
    """
    ttl = max(1, int(expires - time.time()) + CLAIM_MARGIN_SECONDS)
    return bool(await client.set(key("claim", request_id), owner, nx=True, ex=ttl))


async def register(client: redis.asyncio.Redis, worker: str, info: dict) -> None:
    """Publish (or refresh) this worker's entry in the worker list for REGISTRY_TTL_SECONDS."""
    await client.set(key("worker", worker), json.dumps(info), ex=REGISTRY_TTL_SECONDS)


async def unregister(client: redis.asyncio.Redis, worker: str) -> None:
    await client.delete(key("worker", worker))


def live_workers() -> list[dict]:
    """The entries of the workers alive now (synchronous: for the health view)."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        names = list(client.scan_iter(match=key("worker", "*"), count=1000))
        values = client.mget(names) if names else []
    finally:
        client.close()
    return [json.loads(v) for v in values if v]
