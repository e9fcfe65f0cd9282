"""RayRuntime: the runtime interface of inference/runtime.py, served by a Ray Serve application.

This process joins the Ray cluster as a driver and calls each base model's application through a
deployment handle (docs/architecture.md says why a handle and not Serve's HTTP ingress). Failure handling:
- an engine error raised before anything ran (context too long, queue full, unknown base) comes back
  as the same exception type, so the one exception handler answers exactly as with the embedded engine;
- no replica takes the request within TIGER_ENGINE_TIMEOUT (none running, all at max_ongoing_requests,
  the caller's queue full, the cluster unreachable): `Unavailable`, a 503 with Retry-After, never a hang;
- the replica running a request dies: a generation ends with a Failed event (code replica_lost), a
  training raises Unavailable (nothing is committed: the caller commits only a result);
- `GenerationStream.cancel()` (the client went away) cancels the Serve request, which cancels it in the Engine.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.conf import settings

from inference.catalog import base_models
from inference.engine.errors import EngineUnavailable
from inference.engine.types import (TERMINAL_KINDS, Failed, FineTuneRequest, FineTuneResult, GenerationRequest,
                                    LoraSpec, TrainingRequest, TrainingResult)
from inference.engine_factory import engines_built
from inference.stream import GenerationStream
from inference.serve.application import app_name
from inference.serve.messages import Raised, model_id
from tigercity.errors import Unavailable

log = logging.getLogger(__name__)

RETRY_AFTER = "5"
STATS_TIMEOUT = 5.0  # seconds /v1/health waits for a replica's figures
OPEN_ATTEMPTS = 3  # replicas tried for a request whose replica died before taking it


class RayRuntime:
    """Start generations, train and create adapters on the replicas of the engine's Serve applications."""

    name = "ray"

    def __init__(self, *, address: str | None = None, timeout: float | None = None):
        self.address = address or settings.TIGER["RAY_ADDRESS"]
        self.timeout = float(timeout or settings.TIGER["ENGINE_TIMEOUT"])
        self._handles: dict[str, object] = {}
        self._lock = threading.Lock()  # the handles and the connecting thread
        self._connect_lock = threading.Lock()  # held while joining the cluster (seconds)
        self._connected = threading.Event()
        self._connecting: threading.Thread | None = None
        self._joined = False  # ray.init was called here (not by a process that was a driver already)
        self._jobs: dict[str, _Job] = {}  # fine-tuning jobs relayed by this process, by job id
        self._tasks: set[asyncio.Task] = set()  # relays in flight (the loop keeps only weak references)

    # -- the runtime interface --------------------------------------------------------------------

    async def start_generation(self, request: GenerationRequest) -> GenerationStream:
        """Send to a replica (the one holding the adapter when it has room); engine errors raise here."""
        adapter = request.adapter
        stream = await self._open(request.base, "generate", request,
                                  model=model_id(adapter.key, adapter.revision) if adapter else "")
        loop = asyncio.get_running_loop()
        generation = GenerationStream(request.request_id, loop, cancel=lambda: loop.call_soon_threadsafe(stream.cancel))
        task = asyncio.ensure_future(self._relay(stream, request.base, generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return generation

    async def train(self, request: TrainingRequest) -> TrainingResult:
        stream = await self._open(request.base, "train", request)
        return await self._result(stream, request.base)

    async def create_adapter(self, *, base: str, spec: LoraSpec, dest_path: str) -> None:
        stream = await self._open(base, "create_adapter", base, spec, dest_path)
        await self._result(stream, base)

    # -- dataset jobs: called from the job runner's own thread (blocking), not from an event loop ----

    def finetune(self, request: FineTuneRequest, on_event) -> Future:
        """Start a fine-tuning job on a replica of its base; a concurrent Future of its FineTuneResult.
        Progress goes to `on_event` from a relay thread. Raises, like start_generation: the engine's
        refusal, or Unavailable when no replica takes the job within TIGER_ENGINE_TIMEOUT."""
        stream = self._handle(request.base).options(stream=True).finetune.remote(request)
        job = _Job(stream, on_event)
        with self._lock:
            self._jobs[request.job_id] = job
        threading.Thread(target=self._relay_job, args=(request, job), name=f"job-{request.job_id}", daemon=True).start()
        if not job.accepted.wait(self.timeout):
            stream.cancel()
            raise self._unavailable(f"No engine replica for {request.base} took the job within {self.timeout:g} s.")
        if job.refused is not None:
            raise job.refused
        return job.future

    def cancel_finetune(self, job_id: str) -> bool:
        """Cancel a job's stream (its replica then cancels the job); False when this process runs no such job."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.future.done():
            return False
        job.stream.cancel()
        return True

    def context_length(self, base: str) -> int:
        return self._handle(base).context_length.remote(base).result(timeout_s=self.timeout)

    def count_prompt_tokens(self, base: str, messages: list[dict]) -> int:
        return self._handle(base).count_prompt_tokens.remote(base, list(messages)).result(timeout_s=self.timeout)

    def dataset_tokens(self, base: str, examples) -> list[int]:
        return self._handle(base).dataset_tokens.remote(base, list(examples)).result(timeout_s=self.timeout)

    def _relay_job(self, request: FineTuneRequest, job: "_Job") -> None:
        from ray.serve.exceptions import RequestCancelledError

        from inference.engine.errors import FineTuneCancelled

        try:
            for item in job.stream:
                if not job.accepted.is_set():
                    if isinstance(item, Raised):
                        job.refused = item.error
                    job.accepted.set()
                elif isinstance(item, Raised):
                    job.future.set_exception(item.error)
                elif isinstance(item, FineTuneResult):
                    job.future.set_result(item)
                else:
                    job.on_event(item)
            if not job.future.done() and job.refused is None:
                job.future.set_exception(self._unavailable(f"The engine replica for {request.base} ended the job "
                                                           "early.", code="replica_lost"))
        except RequestCancelledError:
            job.future.set_exception(FineTuneCancelled(f"The fine-tuning job {request.job_id} was cancelled."))
        except Exception as e:  # RayActorError: the replica died; anything else: no replica to answer
            if not job.accepted.is_set():
                job.refused = self._unavailable(f"The engine replica for {request.base} stopped before it "
                                                f"answered.", code="replica_lost")
            elif not job.future.done():
                log.warning("fine-tuning job %s lost its replica: %r", request.job_id, e)
                job.future.set_exception(self._unavailable(
                    f"The engine replica for {request.base} stopped during the job; nothing was saved.",
                    code="replica_lost"))
        finally:
            job.accepted.set()
            with self._lock:
                self._jobs.pop(request.job_id, None)

    def status(self) -> dict:
        """Whether a replica is up, and every replica of this site's applications with its figures (the
        adapters it holds among them). This process loads no model: `local_engines` stays 0."""
        status = {"backend": self.name, "loaded": [], "local_engines": engines_built()}
        if not self._connected.is_set():  # joining the cluster takes seconds: health answers meanwhile
            self._connect_in_background()
            return {**status, "ready": False, "error": "joining the Ray cluster"}
        try:
            replicas = self._replicas()
        except Exception as e:  # health must answer even when the cluster does not
            return {**status, "ready": False, "error": f"Ray: {e}"}
        return {**status, "ready": any(r["state"] == "RUNNING" for r in replicas),
                "running": sum(r.get("open_requests", 0) for r in replicas), "replicas": replicas}

    def shutdown(self) -> None:
        """Forget the handles; leave the cluster if this runtime joined it."""
        with self._lock:
            self._handles.clear()
        if self._connected.is_set() and self._joined:
            import ray

            ray.shutdown()
            self._connected.clear()

    # -- internals --------------------------------------------------------------------------------

    def _connect(self) -> None:
        import ray

        with self._connect_lock:
            if not ray.is_initialized():
                ray.init(address=self.address, namespace="tigercity", log_to_driver=False,
                         logging_level=logging.WARNING)
                self._joined = True
        self._connected.set()

    def _connect_in_background(self) -> None:
        with self._lock:
            if self._connecting is None or not self._connecting.is_alive():
                self._connecting = threading.Thread(target=self._connect_logged, name="ray-connect", daemon=True)
                self._connecting.start()

    def _connect_logged(self) -> None:
        try:
            self._connect()
        except Exception:
            log.exception("could not join the Ray cluster at %s", self.address)

    def _handle(self, base: str):
        """The deployment handle of `base`'s application (blocking: joins the cluster on first use)."""
        from ray import serve

        self._connect()
        with self._lock:
            if base not in self._handles:
                self._handles[base] = serve.get_app_handle(app_name(base))
            return self._handles[base]

    async def _open(self, base: str, method: str, *args, model: str = ""):
        """Call a streaming method; returns the stream once a replica took the request.

        A replica that died before it took the request (no Accepted: nothing ran there) is tried again on
        another, up to OPEN_ATTEMPTS times in all: Serve's routers learn of a dead replica from the
        failed call itself, so the request just after a crash would otherwise be refused for nothing."""
        from ray.exceptions import RayActorError
        from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

        try:
            handle = await asyncio.to_thread(self._handle, base)
        except Exception as e:  # cluster unreachable, application not deployed
            raise self._unavailable(f"The engine for {base} is not reachable on the Ray cluster: {e}") from e
        deadline = asyncio.get_running_loop().time() + self.timeout
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            stream = getattr(handle.options(stream=True, multiplexed_model_id=model), method).remote(*args)
            left = deadline - asyncio.get_running_loop().time()
            try:
                first = await asyncio.wait_for(stream.__anext__(), max(left, 0.001))
            except asyncio.TimeoutError:
                stream.cancel()
                raise self._unavailable(f"No engine replica for {base} took the request within {self.timeout:g} s.") from None
            except BackPressureError:
                raise self._unavailable(f"Too many requests are waiting for an engine replica for {base}.") from None
            except DeploymentUnavailableError:
                raise self._unavailable(f"The engine for {base} has no healthy replica.") from None
            except (RayActorError, StopAsyncIteration) as e:
                if attempt < OPEN_ATTEMPTS:
                    log.warning("%s on %s: the replica died before it took the request; trying another", method, base)
                    continue
                raise self._unavailable(f"The engine replica for {base} stopped before it answered.",
                                        code="replica_lost") from e
            if isinstance(first, Raised):
                if isinstance(first.error, EngineUnavailable):  # the replica is shutting down
                    raise self._unavailable(str(first.error))
                raise first.error
            return stream

    async def _result(self, stream, base: str):
        """The one item after Accepted: a result, or the engine error raised again."""
        from ray.exceptions import RayActorError

        try:
            item = await stream.__anext__()
        except (RayActorError, StopAsyncIteration) as e:
            raise self._unavailable(f"The engine replica for {base} stopped before it finished; nothing was "
                                    "saved.", code="replica_lost") from e
        if isinstance(item, Raised):
            raise item.error
        return item

    async def _relay(self, stream, base: str, generation: GenerationStream) -> None:
        """Push the replica's events into `generation` until the last one."""
        try:
            async for batch in stream:
                for event in batch:
                    generation.push(event)
                if batch and batch[-1].kind in TERMINAL_KINDS:
                    return
            generation.push(Failed(f"The engine replica for {base} ended the stream early.", code="replica_lost"))
        except Exception as e:
            if generation.finished:  # cancelled by its reader: what the stream says now goes nowhere
                return
            log.warning("generation %s lost its replica: %r", generation.request_id, e)
            generation.push(Failed(f"The engine replica for {base} stopped during this generation; retry.",
                                   code="replica_lost"))

    def _replicas(self) -> list[dict]:
        """Every replica of this site's applications: Serve's view of it, and its own figures."""
        import ray
        from ray.serve._private.constants import SERVE_NAMESPACE
        from ray.serve.context import _get_global_client

        apps = {app_name(m.name): m.name for m in base_models()}
        details = _get_global_client().get_serve_details()
        found = []
        for name, app in details.get("applications", {}).items():
            if name not in apps:
                continue
            for deployment in app.get("deployments", {}).values():
                for replica in deployment.get("replicas", []):
                    found.append({"base": apps[name], "application": name, "replica": replica["replica_id"],
                                  "state": getattr(replica["state"], "value", replica["state"]), "pid": replica.get("pid"),
                                  "actor": replica.get("actor_name")})  # no host addresses: health needs no key
        refs = {}
        for entry in found:
            if entry["state"] == "RUNNING" and entry["actor"]:
                actor = ray.get_actor(entry["actor"], namespace=SERVE_NAMESPACE)
                refs[entry["replica"]] = actor.record_routing_stats.remote()
        for entry in found:
            entry.pop("actor")
            ref = refs.get(entry["replica"])
            if ref is None:
                continue
            try:
                stats = ray.get(ref, timeout=STATS_TIMEOUT)
            except Exception as e:
                entry["error"] = str(e)
                continue
            entry.update({k: v for k, v in stats.items() if k not in ("replica", "pid", "bases")})
        return found

    def _unavailable(self, message: str, code: str = "engine_unavailable") -> Unavailable:
        return Unavailable(message, code=code, headers={"Retry-After": RETRY_AFTER})


@dataclass(eq=False)
class _Job:
    """A fine-tuning job this process relays: its Serve stream and what the caller waits on."""

    stream: object
    on_event: object
    future: Future = field(default_factory=Future)
    accepted: threading.Event = field(default_factory=threading.Event)
    refused: BaseException | None = None  # the engine's refusal, or no replica
