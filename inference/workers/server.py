"""An engine worker: one Engine in this process, serving requests that arrive over the channel layer.

`manage.py runengine` runs `serve()`. The message shapes are in protocol.py. The engine calls back on
its own thread; those events hop onto this process's event loop, and one sender task delivers them in
order (consecutive events of one request share a message, so a busy worker sends fewer, larger ones).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from contextlib import suppress
from dataclasses import dataclass, field

import redis
from channels.exceptions import ChannelFull

from inference.engine.types import TERMINAL_KINDS, GenerationRequest, LoraSpec, TrainingRequest
from inference.workers import coordination, protocol

log = logging.getLogger(__name__)

SEND_BATCH = 512  # messages taken off the outbox at once
SEND_PATIENCE_SECONDS = 5.0  # how long a reply channel may stay full before its request is cancelled


@dataclass(eq=False)
class _Job:
    """One request this worker took: a generation, a training or an adapter creation."""

    id: str
    reply: str
    rows: int = 0  # batch rows a generation holds (its n), released by its last event
    accepted: bool = False  # "accepted" is sent: events may follow it (before, they wait in `pending`)
    pending: list = field(default_factory=list)
    closed: bool = False  # its last message is queued: nothing may follow it, not even a heartbeat
    last_sent: float = field(default_factory=time.monotonic)


class EngineServer:
    """Serves `bases` of `engine` on the channel layer until `run`'s stop event is set.

    A base's channels are only read once its weights are loaded, so a worker that is starting never
    takes requests that a running one could serve. Generation requests are only read while fewer than
    `max_rows` rows run here: the rest wait in Redis for whichever worker frees a row first.
    """

    def __init__(self, engine, bases: list[str], *, layer, redis, namespace: str, max_rows: int,
                 heartbeat: float = protocol.HEARTBEAT_SECONDS):
        self.engine = engine
        self.bases = list(bases)
        self.layer = layer
        self.redis = redis
        self.namespace = namespace
        self.max_rows = max_rows
        self.heartbeat = heartbeat
        self.inbox = ""
        self.ready: list[str] = []
        self.jobs: dict[str, _Job] = {}
        self._stopping = False  # no new requests
        self._closing = False  # not even cancellations: the outbox is flushed
        self._rows = 0  # batch rows held by the generations in `jobs`
        self._room = asyncio.Event()  # set whenever rows are released
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._registering = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._started = time.time()

    async def run(self, stop: asyncio.Event, *, grace: float = 30.0) -> None:
        """Serve until `stop` is set; then take nothing new, let what runs finish (up to `grace`
        seconds), stop the engine (what is left gets Failed), deliver the last messages and leave."""
        self.inbox = await self.layer.new_channel()  # the default prefix: see protocol.py
        service = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._inbox_loop()),
                   asyncio.create_task(self._heartbeat_loop())]
        intake = [asyncio.create_task(self._serve_base(base)) for base in self.bases]
        log.info("engine worker %s serving %s", self.inbox, ", ".join(self.bases))
        await stop.wait()
        log.info("engine worker %s stopping: %d requests in flight", self.inbox, len(self.jobs))
        self._stopping = True
        self.ready.clear()  # the worker list says so while what runs finishes
        await _cancel(intake)
        await self._drain(grace)
        await asyncio.to_thread(self.engine.shutdown)
        await self._drain(5.0)
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._outbox.join(), 10.0)
        self._closing = True
        await _cancel(service + list(self._tasks))
        async with self._registering:
            await coordination.unregister(self.redis, self.inbox)

    # -- intake -----------------------------------------------------------------------------------

    async def _serve_base(self, base: str) -> None:
        try:
            await asyncio.to_thread(self.engine.start, base)
        except Exception:
            log.exception("cannot serve %s", base)
            return
        while not self.engine.is_ready(base):  # a load error is logged by the engine; we then never serve
            await asyncio.sleep(0.1)
        self.ready.append(base)
        await self._register()
        log.info("%s is loaded: taking its requests", base)
        await asyncio.gather(self._receive_loop(protocol.base_channel(self.namespace, "generate", base), rows=True),
                             self._receive_loop(protocol.base_channel(self.namespace, "control", base)))

    async def _receive_loop(self, channel: str, *, rows: bool = False) -> None:
        while not self._stopping:
            while rows and self._rows >= self.max_rows:
                self._room.clear()
                await self._room.wait()
            message = await self._receive(channel)
            try:
                await self._take(message)
            except Exception:
                log.exception("could not take a %s request", message.get("type"))

    async def _receive(self, channel: str) -> dict:
        """The next message on `channel`, waiting out Redis failures (a restart, a lost connection)
        while the worker runs; once it stops, a failure (its connections closing) ends the loop."""
        while True:
            try:
                return await self.layer.receive(channel)
            except (OSError, redis.RedisError):
                if self._stopping:
                    raise
                log.exception("receiving on %s failed; retrying in 1 s", channel)
                await asyncio.sleep(1.0)

    async def _take(self, message: dict) -> None:
        if message.get("expires", 0) < time.time():
            log.warning("dropped %s %s: its sender stopped waiting", message.get("type"), message.get("id"))
            return
        if not await coordination.claim(self.redis, message["id"], self.inbox, expires=message["expires"]):
            return  # a duplicate delivery; another worker runs it
        job = _Job(id=message["id"], reply=message["reply"])
        self.jobs[job.id] = job
        try:
            if message["type"] == "generate":
                request = protocol.decode(GenerationRequest, message["request"])
                job.rows = request.params.n
                self._rows += job.rows  # now, before the next receive looks at the room left
                work = self._generate(job, request)
            elif message["type"] == "train":
                work = self._train(job, protocol.decode(TrainingRequest, message["request"]))
            else:
                work = self._create_adapter(job, message["base"], protocol.decode(LoraSpec, message["spec"]),
                                            message["dest_path"])
        except Exception as e:  # a malformed request: say so rather than let the sender time out
            self._post(job, {"type": "error", "error": protocol.encode_error(e)}, last=True)
            return
        self._spawn(work)

    async def _generate(self, job: _Job, request: GenerationRequest) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self.engine.submit, request,
                                    lambda event: loop.call_soon_threadsafe(self._on_event, job, event))
        except Exception as e:
            self._post(job, {"type": "error", "error": protocol.encode_error(e)}, last=True)
            return
        self._accept(job)
        for event in job.pending:
            self._on_event(job, event)
        job.pending.clear()

    def _accept(self, job: _Job) -> None:
        """Tell the sender this worker owns `job` (where to send a cancel); heartbeats follow."""
        job.accepted = True
        self._post(job, {"type": "accepted", "worker": self.inbox})

    def _on_event(self, job: _Job, event) -> None:
        if not job.accepted:
            job.pending.append(event)
            return
        self._post(job, {"type": "events", "events": [protocol.encode(event)]}, last=event.kind in TERMINAL_KINDS)

    async def _train(self, job: _Job, request: TrainingRequest) -> None:
        self._accept(job)
        try:
            future = await asyncio.to_thread(self.engine.train, request)
            result = await asyncio.wrap_future(future)
        except Exception as e:
            log.exception("training %s failed", job.id)
            self._post(job, {"type": "error", "error": protocol.encode_error(e)}, last=True)
            return
        self._post(job, {"type": "result", "result": protocol.encode(result)}, last=True)

    async def _create_adapter(self, job: _Job, base: str, spec: LoraSpec, dest_path: str) -> None:
        self._accept(job)
        try:
            await asyncio.to_thread(self.engine.create_adapter, base, spec, dest_path)
        except Exception as e:
            self._post(job, {"type": "error", "error": protocol.encode_error(e)}, last=True)
            return
        self._post(job, {"type": "result", "result": {}}, last=True)

    async def _inbox_loop(self) -> None:
        while not self._closing:
            message = await self._receive(self.inbox)
            if message.get("type") == "cancel" and message.get("id") in self.jobs:
                self.engine.cancel(message["id"])

    # -- outbox -----------------------------------------------------------------------------------

    def _post(self, job: _Job, message: dict, *, last: bool = False) -> None:
        """Queue `message` for `job`'s reply channel (on the event loop's thread)."""
        if job.closed:
            return
        self._outbox.put_nowait((job, message))
        job.last_sent = time.monotonic()
        if last:
            job.closed = True
            self.jobs.pop(job.id, None)
            self._rows -= job.rows
            self._room.set()

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < SEND_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                await asyncio.gather(*(self._deliver(job, messages) for job, messages in _by_job(batch).items()))
            finally:
                for _ in batch:
                    self._outbox.task_done()

    async def _deliver(self, job: _Job, messages: list[dict]) -> None:
        for message in messages:
            patience = time.monotonic() + SEND_PATIENCE_SECONDS
            while True:
                try:
                    await self.layer.send(job.reply, message)
                    break
                except ChannelFull:  # the web process reads slowly (wait: backpressure) or not at all
                    if time.monotonic() < patience:
                        await asyncio.sleep(0.05)
                        continue
                    log.warning("%s: its web process stopped reading; cancelling it", job.id)
                except Exception:
                    log.exception("could not answer %s; cancelling it", job.id)
                self.engine.cancel(job.id)
                return

    async def _heartbeat_loop(self) -> None:
        while True:
            now = time.monotonic()
            for job in list(self.jobs.values()):
                if job.accepted and not job.closed and now - job.last_sent >= self.heartbeat:
                    self._post(job, {"type": "alive"})
            await self._register()
            await asyncio.sleep(self.heartbeat)

    async def _register(self) -> None:
        """Publish this worker in the worker list (health, runengine's start-up check). One write at a
        time, each with the state of when it is made: an older one must never land last."""
        async with self._registering:
            info = {"id": self.inbox, "host": socket.gethostname(), "pid": os.getpid(), "bases": self.bases,
                    "ready": list(self.ready), "rows": self._rows, "requests": len(self.jobs),
                    "started": self._started}
            try:
                await coordination.register(self.redis, self.inbox, info)
            except Exception:
                log.exception("could not refresh this worker's entry in Redis")

    # -- bookkeeping ------------------------------------------------------------------------------

    async def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _by_job(batch: list[tuple[_Job, dict]]) -> dict[_Job, list[dict]]:
    """Messages grouped by request, in order, consecutive event lists merged into one message."""
    grouped: dict[_Job, list[dict]] = {}
    for job, message in batch:
        messages = grouped.setdefault(job, [])
        if message["type"] == "events" and messages and messages[-1]["type"] == "events":
            messages[-1] = {"type": "events", "events": messages[-1]["events"] + message["events"]}
        else:
            messages.append(message)
    return grouped


async def _cancel(tasks, wait: float = 1.0) -> None:
    """Cancel `tasks` and give them `wait` seconds to end. A receive blocked in Redis may only notice at
    the end of its blocking pop (seconds): it is not waited for (its loop checks `_stopping`)."""
    for task in tasks:
        task.cancel()
        task.add_done_callback(_ignore_outcome)
    if tasks:
        await asyncio.wait(tasks, timeout=wait)


def _ignore_outcome(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("a cancelled task ended with %r", task.exception())


def serve(bases: list[str], *, grace: float = 30.0) -> None:
    """Run a worker for `bases` until SIGTERM or SIGINT (the body of `manage.py runengine`)."""
    from channels.layers import get_channel_layer
    from django.conf import settings

    from inference.engine_factory import build_engine

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        engine = build_engine(bases)
        layer = get_channel_layer()
        client = coordination.async_client()
        server = EngineServer(engine, bases, layer=layer, redis=client, namespace=settings.TIGER["WORKER_NAMESPACE"],
                              max_rows=settings.TIGER["MAX_BATCH_SIZE"])
        try:
            await server.run(stop, grace=grace)
        finally:
            await client.aclose()
            await layer.close_pools()
        log.info("engine worker stopped")

    asyncio.run(main())
