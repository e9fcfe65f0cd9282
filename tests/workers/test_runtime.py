"""WorkerRuntime and EngineServer over the real Redis, with a stand-in engine (no torch: fast)."""
import asyncio
import os
import time
import uuid

import pytest

from inference.engine.errors import CheckpointError, ContextLengthExceeded, QueueFull, UnknownBaseModel
from inference.engine.types import (AdapterRef, GenerationRequest, LoraSpec, SamplingParams, TrainingGroup,
                                    TrainingRequest)
from inference.engine_factory import engines_built
from tests.workers.conftest import BASE
from tigercity.errors import Unavailable
from tigercity.error_responses import describe

pytestmark = pytest.mark.redis


def request(content: str, n: int = 1) -> GenerationRequest:
    return GenerationRequest(request_id=f"gen-{uuid.uuid4().hex}", base=BASE,
                             messages=({"role": "user", "content": content},), params=SamplingParams(n=n))


def training(dest_revision: int = 1) -> TrainingRequest:
    return TrainingRequest(
        request_id=f"train-{uuid.uuid4().hex}", base=BASE, source=AdapterRef("k", 0, "/adapters/k/rev-0"),
        dest_revision=dest_revision, dest_path=f"/adapters/k/rev-{dest_revision}",
        groups=(TrainingGroup(({"role": "user", "content": "2+3?"},), ("5", "7"), (1.0, 0.0)),),
    )


async def collect(generation, timeout: float = 10.0) -> list:
    async def run():
        return [event async for event in generation]

    return await asyncio.wait_for(run(), timeout)


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_generation_streams_through_a_worker_in_order(cluster):
    await cluster.start_worker()
    runtime = cluster.runtime()
    events = await collect(await runtime.start_generation(request("the cat sat")))
    assert [e.kind for e in events] == ["delta", "delta", "delta", "finished", "done"]
    assert "".join(e.text for e in events if e.kind == "delta") == "the cat sat"
    assert events[-1].completion_tokens == 3


async def test_a_generation_is_answered_while_a_websocket_consumer_waits_on_the_same_layer(cluster):
    await cluster.start_worker()
    runtime = cluster.runtime()
    consumer = asyncio.create_task(runtime.layer.receive(await runtime.layer.new_channel()))  # as Channels does
    try:
        await asyncio.sleep(0.1)
        events = await collect(await runtime.start_generation(request("hi there")))
        assert events[-1].kind == "done"
    finally:
        consumer.cancel()  # it may only end when the layer closes: retrieve its outcome then
        consumer.add_done_callback(lambda task: task.cancelled() or task.exception())


@pytest.mark.parametrize("content, error_type, status", [
    ("too long", ContextLengthExceeded, 400),
    ("full", QueueFull, 503),
    ("unknown", UnknownBaseModel, 404),
])
async def test_engine_errors_before_streaming_come_back_as_the_same_types(cluster, content, error_type, status):
    await cluster.start_worker()
    with pytest.raises(error_type) as raised:
        await cluster.runtime().start_generation(request(content))
    assert describe(raised.value)[0] == status
    if error_type is ContextLengthExceeded:
        assert (raised.value.prompt_tokens, raised.value.context_length) == (300, 256)
        assert "300" in str(raised.value) and "256" in str(raised.value)


async def test_with_no_worker_a_request_is_a_503_with_retry_after_not_a_hang(cluster):
    runtime = cluster.runtime(timeout=1.0)
    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        await runtime.start_generation(request("hello"))
    assert 0.9 < time.monotonic() - started < 3
    status, body, headers = describe(raised.value)
    assert status == 503 and headers["Retry-After"] and body["error"]["type"] == "server_error"
    with pytest.raises(Unavailable):
        await runtime.train(training())


async def test_a_request_left_in_redis_after_its_sender_gave_up_is_dropped(cluster):
    runtime = cluster.runtime(timeout=1.0)
    with pytest.raises(Unavailable):
        await runtime.start_generation(request("too late"))
    _, engine, _, _ = await cluster.start_worker()
    await asyncio.sleep(0.5)
    assert engine.submitted == []


async def test_cancelling_a_generation_cancels_it_on_the_worker_that_runs_it(cluster):
    _, engine, _, _ = await cluster.start_worker()
    req = request("forever")
    generation = await cluster.runtime().start_generation(req)
    async for event in generation:
        assert event.kind == "delta"
        break
    generation.cancel()
    await until(lambda: req.request_id in engine.cancelled)


async def test_heartbeats_keep_a_slow_request_alive_past_the_timeout(cluster):
    await cluster.start_worker(heartbeat=0.2)
    events = await collect(await cluster.runtime(timeout=1.0).start_generation(request("slow 2.5")))
    assert [e.kind for e in events] == ["delta", "finished", "done"]


async def test_heartbeats_keep_a_long_training_alive_past_the_timeout(cluster):
    await cluster.start_worker(heartbeat=0.2)
    assert (await cluster.runtime(timeout=1.0).train(training(dest_revision=50))).changed


async def test_a_worker_that_goes_silent_ends_the_generation_with_failed(cluster):
    await cluster.start_worker(heartbeat=3600, grace=0.1)  # says nothing more once it took the request: as if dead
    events = await collect(await cluster.runtime(timeout=1.0).start_generation(request("silent")))
    assert [(e.kind, e.code) for e in events] == [("failed", "worker_lost")]


async def test_training_and_adapter_creation_run_on_a_worker(cluster, tmp_path):
    _, engine, _, _ = await cluster.start_worker()
    runtime = cluster.runtime()
    req = training()
    result = await runtime.train(req)
    assert result.changed and result.steps == 2 and result.loss == 0.5
    assert engine.trained == [req.request_id]
    dest = tmp_path / "rev-0"
    await runtime.create_adapter(base=BASE, spec=LoraSpec(rank=4), dest_path=str(dest))
    assert (dest / "rank").read_text() == "4"


async def test_a_training_that_fails_on_the_worker_raises_the_same_error(cluster):
    await cluster.start_worker()
    with pytest.raises(CheckpointError, match="does not fit"):
        await cluster.runtime().train(training(dest_revision=99))


async def test_workers_share_the_requests_of_a_base_and_each_runs_once(cluster):
    _, first, _, _ = await cluster.start_worker(max_rows=2)
    _, second, _, _ = await cluster.start_worker(max_rows=2)
    runtime = cluster.runtime(timeout=10)

    async def one(i):
        return await collect(await runtime.start_generation(request(f"slow 0.2 {i}")))

    results = await asyncio.gather(*(one(i) for i in range(10)))
    assert all(events[-1].kind == "done" for events in results)
    assert len(first.submitted) + len(second.submitted) == 10
    assert not set(first.submitted) & set(second.submitted)
    assert first.submitted and second.submitted  # two rows each: neither could take all ten


async def test_a_worker_takes_no_more_rows_than_its_batch(cluster):
    _, engine, _, _ = await cluster.start_worker(max_rows=2)
    runtime = cluster.runtime(timeout=10)
    wide = await runtime.start_generation(request("forever", n=2))
    waiting = asyncio.create_task(runtime.start_generation(request("hello")))
    await asyncio.sleep(0.5)
    assert not waiting.done() and len(engine.submitted) == 1
    wide.cancel()
    assert [e.kind for e in await collect(await waiting)][-1] == "done"


async def test_on_stop_a_worker_lets_running_work_finish_then_fails_what_is_left(cluster):
    server, engine, stop, task = await cluster.start_worker(grace=0.3)
    runtime = cluster.runtime()
    generation = await runtime.start_generation(request("forever"))
    stop.set()
    events = await collect(generation)
    assert events[-1].kind == "failed"
    await asyncio.wait_for(task, 5)
    from inference.workers import coordination

    assert server.inbox not in [w["id"] for w in await asyncio.to_thread(coordination.live_workers)]


async def test_status_lists_the_live_workers_and_no_local_engine(cluster):
    server, _, _, _ = await cluster.start_worker()
    runtime = cluster.runtime()
    status = await asyncio.to_thread(runtime.status)
    for _ in range(50):  # the worker publishes itself just after it loaded the base
        if status["workers"]:
            break
        await asyncio.sleep(0.05)
        status = await asyncio.to_thread(runtime.status)
    assert status["backend"] == "workers" and status["ready"] is True, status
    assert status["loaded"] == [] and status["local_engines"] == engines_built()  # in a web process: 0
    [worker] = status["workers"]
    assert worker["pid"] == os.getpid() and worker["ready"] == [BASE] and "host" not in worker


async def test_the_training_lock_is_held_by_one_process_at_a_time(namespace):
    from inference.workers.coordination import redis_lock

    order = []

    async def hold(name):
        async with redis_lock("train:1"):
            order.append(f"{name} in")
            await asyncio.sleep(0.3)
            order.append(f"{name} out")

    await asyncio.gather(hold("a"), hold("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_the_training_lock_outlives_its_ttl_while_held_and_frees_itself_when_its_holder_dies(namespace):
    from inference.workers import coordination

    order = []

    async def long_holder():
        async with coordination.redis_lock("train:2", ttl=0.3):
            await asyncio.sleep(1.0)  # three TTLs: renewed meanwhile
            order.append("long done")

    async def contender():
        await asyncio.sleep(0.1)
        async with coordination.redis_lock("train:2", ttl=0.3):
            order.append("contender in")

    await asyncio.gather(long_holder(), contender())
    assert order == ["long done", "contender in"]

    client = coordination.async_client()
    try:  # a holder that died: took the lock and never renewed nor released it
        assert await client.lock(coordination.key("lock", "train:3"), timeout=0.5).acquire()
        started = time.monotonic()
        async with coordination.redis_lock("train:3"):
            assert 0.3 < time.monotonic() - started < 2
    finally:
        await client.aclose()
