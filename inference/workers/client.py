"""WorkerRuntime: the runtime interface (inference/runtime_interface.py), served by engine workers over Redis.

The web process holds no model. Each call sends a request to the base model's channel and reads the
answers on a reply channel of its own (the message shapes are in protocol.py). Failure handling:
- an engine error raised before anything ran (context too long, queue full, unknown base) comes back
  as the same exception type, so the one exception handler answers exactly as with the embedded engine;
- no worker takes the request within TIGER_WORKER_TIMEOUT (none running, all busy, Redis full):
  `Unavailable` (503 with Retry-After), never a hang;
- a worker that goes silent for TIGER_WORKER_TIMEOUT after taking a request (it crashed: a live one
  sends a heartbeat every second) ends the generation with a Failed event, or fails the training;
- `GenerationStream.cancel()` (the client went away) sends a cancel to the worker that owns the request.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

import redis
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings

from inference.engine.types import TERMINAL_KINDS, Failed, GenerationRequest, LoraSpec, TrainingRequest, TrainingResult
from inference.engine_factory import engines_built
from inference.stream import GenerationStream
from inference.workers import coordination, protocol
from tigercity.errors import Unavailable

log = logging.getLogger(__name__)

RETRY_AFTER = "5"


class WorkerRuntime:
    """Start generations, train and create adapters on engine workers (`manage.py runengine`)."""

    name = "workers"

    def __init__(self, *, layer=None, timeout: float | None = None, namespace: str | None = None):
        if layer is None and not settings.REDIS_URL:
            raise Unavailable("TIGER_ENGINE=workers needs REDIS_URL: the web tier reaches its engine workers "
                              "through Redis.", code="engine_unavailable")
        self.layer = layer or get_channel_layer()
        self.timeout = float(timeout or settings.TIGER["WORKER_TIMEOUT"])
        self.namespace = namespace or settings.TIGER["WORKER_NAMESPACE"]
        self._tasks: set[asyncio.Task] = set()  # relays and cancels in flight (the loop keeps weak refs)

    # -- the runtime interface --------------------------------------------------------------------

    async def start_generation(self, request: GenerationRequest) -> GenerationStream:
        """Send to a worker; engine errors raise here, before anything streams."""
        reply, first = await self._request("generate", request.base, request.request_id,
                                           {"request": protocol.encode(request)})
        worker = first["worker"]
        loop = asyncio.get_running_loop()
        generation = GenerationStream(request.request_id, loop, cancel=lambda: loop.call_soon_threadsafe(
            self._spawn, self._send_cancel(worker, request.request_id)))
        self._spawn(self._relay(reply, request.base, generation))
        return generation

    async def train(self, request: TrainingRequest) -> TrainingResult:
        reply, _ = await self._request("train", request.base, request.request_id,
                                       {"request": protocol.encode(request)})
        answer = await self._answer(reply, request.base)
        return protocol.decode(TrainingResult, answer["result"])

    async def create_adapter(self, *, base: str, spec: LoraSpec, dest_path: str) -> None:
        reply, _ = await self._request("create_adapter", base, f"adapter-{uuid.uuid4().hex}",
                                       {"base": base, "spec": protocol.encode(spec), "dest_path": dest_path})
        await self._answer(reply, base)

    def status(self) -> dict:
        """Whether a worker is up, and the list of them (each with the bases it has loaded). This process
        loads no model (`loaded` is empty); `local_engines` counts the engines built here all the same,
        which must stay 0 on a web tier."""
        status = {"backend": self.name, "loaded": [], "local_engines": engines_built()}
        try:
            workers = coordination.live_workers()
        except Exception as e:  # health must answer even when Redis does not
            return {**status, "ready": False, "error": f"Redis: {e}"}
        public = ("pid", "bases", "ready", "requests", "rows")  # health needs no key: no host names, no channels
        return {**status, "ready": any(w.get("ready") for w in workers),
                "running": sum(w.get("requests", 0) for w in workers),
                "workers": [{k: w.get(k) for k in public} for w in workers]}

    def shutdown(self) -> None:
        """Nothing to stop here: the channel layer belongs to Channels, the engines to the workers."""

    # -- internals --------------------------------------------------------------------------------

    async def _request(self, kind: str, base: str, request_id: str, body: dict) -> tuple[str, dict]:
        """Send one request; (reply channel, the worker's first answer). Raises the engine's error."""
        channel = protocol.base_channel(self.namespace, "generate" if kind == "generate" else "control", base)
        reply = await self.layer.new_channel()  # the default prefix: see protocol.py
        message = {"type": kind, "id": request_id, "reply": reply, "expires": time.time() + self.timeout, **body}
        try:
            await self.layer.send(channel, message)
        except ChannelFull:
            raise self._unavailable(f"Too many requests are waiting for an engine worker for {base}.") from None
        except (OSError, redis.RedisError) as e:
            raise self._unavailable(f"The channel layer failed: {e}") from e
        return reply, await self._answer(reply, base, first=True)

    async def _answer(self, reply: str, base: str, *, first: bool = False) -> dict:
        """The next message on `reply` other than a heartbeat; an error message is raised."""
        while True:
            # Not asyncio.wait_for: cancelling a receive that is blocked in Redis may take until the
            # blocking pop returns (seconds). The receive is left to finish on its own instead.
            receiving = asyncio.ensure_future(self.layer.receive(reply))
            done, _ = await asyncio.wait({receiving}, timeout=self.timeout)
            if not done:
                receiving.cancel()
                receiving.add_done_callback(_ignore_outcome)
                if first:
                    raise self._unavailable(f"No engine worker for {base} took the request within "
                                            f"{self.timeout:g} s.")
                raise self._unavailable(f"The engine worker for {base} stopped answering.", code="worker_lost")
            try:
                message = receiving.result()
            except Exception as e:  # Redis went away
                raise self._unavailable(f"The channel layer failed: {e}") from e
            if message["type"] == "alive":
                continue
            if message["type"] == "error":
                error = protocol.decode_error(message["error"])
                if getattr(error, "code", "") == "engine_unavailable":  # the worker is shutting down
                    raise self._unavailable(str(error)) from None
                raise error
            return message

    async def _relay(self, reply: str, base: str, generation: GenerationStream) -> None:
        """Push the worker's events into `generation` until the last one; after a cancel, keep reading
        until the worker confirms, so that nothing is left addressed to this process."""
        try:
            while True:
                message = await self._answer(reply, base)
                for data in message.get("events", ()):
                    event = protocol.decode_event(data)
                    generation.push(event)
                    if event.kind in TERMINAL_KINDS:
                        return
        except Unavailable as e:
            generation.push(Failed(e.message, code=e.code))
        except Exception as e:
            log.exception("relaying generation %s failed", generation.request_id)
            generation.push(Failed(f"Relaying the generation failed: {e}", code="engine_error"))

    async def _send_cancel(self, worker: str, request_id: str) -> None:
        try:
            await self.layer.send(worker, {"type": "cancel", "id": request_id})
        except Exception:
            log.exception("could not send the cancellation of %s to %s", request_id, worker)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _unavailable(self, message: str, code: str = "engine_unavailable") -> Unavailable:
        return Unavailable(message, code=code, headers={"Retry-After": RETRY_AFTER})


def _ignore_outcome(task: asyncio.Task) -> None:
    """Retrieve an abandoned task's result or exception, so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()
