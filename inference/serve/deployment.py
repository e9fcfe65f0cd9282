"""The Serve deployment: each replica owns one Engine for the base models in its arguments.

A thin shell: every method adapts one Engine call to Serve (its callbacks become a stream, its futures
awaitables, its errors stream items). Nothing here imports Django; the web tier's side is runtime.py.

Streams: `generate`, `train`, `finetune` and `create_adapter` are streaming methods; their first item is
`Accepted` (a replica took the request) or `Raised` (an engine error before anything ran), so the
caller can tell "no replica took it in time" (503) from "the work takes long". Then `generate`
yields tuples of engine events (what piled up since the last item: one Ray object per batch, not
per token), `train` its TrainingResult, `finetune` its progress events and then its FineTuneResult,
`create_adapter` None.

Adapter affinity: a request for a user model carries the multiplexed model id key@revision (set by
the caller through `handle.options(multiplexed_model_id=...)`); Serve routes it to a replica that
already holds that id when one has room. Serve's per-replica LRU of ids has the Engine's adapter
cache size, so the ids a replica reports are the adapters its Engine keeps loaded.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping

from ray import serve

from inference.engine.config import EngineConfig
from inference.engine.errors import EngineError
from inference.engine.types import FineTuneRequest, GenerationRequest, LoraSpec, TrainingRequest
from inference.serve.messages import Accepted, Raised, model_id
from tigercity.failpoints import failpoint, hold, taken

TERMINAL = ("done", "failed")


def build_engine(bases: Mapping[str, str], config: EngineConfig, engine_process: bool):
    """An Engine in a child process of the replica (engine_process) or on threads of the replica."""
    if engine_process:
        from inference.engine.process import EngineProcess as Engine
    else:
        from inference.engine.serving.engine import Engine
    return Engine(bases=dict(bases), config=config)


class _HeldAdapter:
    """What Serve's multiplexing caches per model id: the id's entry in its replica's list of held
    adapters (Serve calls __del__ when it evicts the id; the Engine evicts the weights itself)."""

    def __init__(self, held: dict, name: str):
        self._held, self.name = held, name
        held[name] = time.time()

    def __del__(self):
        self._held.pop(self.name, None)


@serve.deployment(name="engine", max_ongoing_requests=16, health_check_period_s=5, health_check_timeout_s=30,
                  graceful_shutdown_timeout_s=30)
class EngineDeployment:
    """One replica: one Engine, its weights loaded before the replica takes requests."""

    def __init__(self, bases: dict[str, str], engine: dict | None = None, engine_process: bool = True,
                 ready_timeout: float = 600.0):
        config = EngineConfig(**(engine or {}))
        self.bases = list(bases)
        self.engine = build_engine(bases, config, engine_process)
        self.replica = serve.get_replica_context().replica_id.unique_id
        self.held: dict[str, float] = {}  # multiplexed model id -> when it was loaded here
        self.counters = {"generations": 0, "cancelled": 0, "trainings": 0, "jobs": 0, "jobs_cancelled": 0,
                         "adapter_loads": 0}
        self.served: dict[str, int] = {}  # generations per multiplexed model id (adapter affinity, in stats)

        async def load_adapter(name: str) -> _HeldAdapter:  # a function: Serve keeps its cache on it
            self.counters["adapter_loads"] += 1
            return _HeldAdapter(self.held, name)

        self.load_adapter = serve.multiplexed(max_num_models_per_replica=config.adapter_cache_size)(load_adapter)
        for base in self.bases:
            self.engine.start(base)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Serve sends nothing to a replica before its constructor returns: load the weights first, so that
        a starting replica never takes requests that a running one could serve."""
        deadline = time.monotonic() + timeout
        while not all(self.engine.is_ready(base) for base in self.bases):
            failed = [base for base in self.bases if self.engine.stats(base).get("load_error")]
            if failed:  # Serve reports the replica's start-up error and retries it
                raise RuntimeError(f"the base models {failed} failed to load: "
                                   + "; ".join(str(self.engine.stats(b)["load_error"]) for b in failed))
            if time.monotonic() > deadline:
                raise RuntimeError(f"the base models {self.bases} did not load within {timeout:g} s")
            time.sleep(0.05)

    def _accepted(self) -> Accepted:
        return Accepted(replica=self.replica, pid=os.getpid())

    # -- requests -----------------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest):
        """Stream a generation: Accepted, then tuples of events up to Done or Failed. A caller that
        cancels (its client went away) cancels it in the Engine."""
        if request.adapter is not None:
            name = serve.get_multiplexed_model_id() or model_id(request.adapter.key, request.adapter.revision)
            await self.load_adapter(name)
            self.served[name] = self.served.get(name, 0) + 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        try:
            await asyncio.wrap_future(self.engine.submit_nowait(
                request, lambda event: loop.call_soon_threadsafe(queue.put_nowait, event)))
        except (EngineError, ValueError) as e:
            yield Raised(e)
            return
        self.counters["generations"] += 1
        yield self._accepted()
        finished, first_text = False, True
        try:
            while not finished:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                first = next((i for i, e in enumerate(batch) if e.kind == "delta" and e.text), None) \
                    if first_text else None
                if first is not None:
                    first_text = False
                    # The tests' states "still generating" (the first token goes out, the rest waits until
                    # the caller cancels) and "killed mid-stream" (the first token goes out, then the
                    # replica dies, however much of the answer is queued already). Taken before the
                    # yield: a caller may cancel at the yield.
                    held, killed = taken("replica_hold_after_first_token"), taken("replica_mid_stream")
                    if held or killed:
                        yield tuple(batch[:first + 1])
                        if killed:
                            os.kill(os.getpid(), signal.SIGKILL)
                        await hold()
                        batch = batch[first + 1:]
                        if not batch:
                            continue
                finished = batch[-1].kind in TERMINAL
                yield tuple(batch)
        finally:
            if not finished:
                self.counters["cancelled"] += 1
                self.engine.cancel(request.request_id)

    async def train(self, request: TrainingRequest):
        """Stream Accepted, then the TrainingResult once the new revision's directory is written."""
        yield self._accepted()
        self.counters["trainings"] += 1
        try:
            result = await asyncio.wrap_future(self.engine.train(request))
        except (EngineError, ValueError) as e:
            yield Raised(e)
            return
        failpoint("replica_after_train")  # the revision is on disk; the caller has not committed it
        yield result

    async def finetune(self, request: FineTuneRequest):
        """Stream Accepted, the job's progress events, then its FineTuneResult (its revision written).
        A caller that cancels the stream cancels the job (nothing is written)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        try:
            future = self.engine.finetune(request, lambda event: loop.call_soon_threadsafe(queue.put_nowait, event))
        except (EngineError, ValueError) as e:
            yield Raised(e)
            return
        # Resolved on the engine thread after its last progress event: it arrives last in the queue.
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(queue.put_nowait, f))
        self.counters["jobs"] += 1
        yield self._accepted()
        finished = False
        try:
            while (item := await queue.get()) is not future:
                yield item
            finished = True
            try:
                result = future.result()
            except (EngineError, ValueError) as e:
                yield Raised(e)
                return
            failpoint("replica_after_finetune")
            yield result
        finally:
            if not finished:
                self.counters["jobs_cancelled"] += 1
                self.engine.cancel_finetune(request.job_id)

    async def context_length(self, base: str) -> int:
        return await asyncio.to_thread(self.engine.context_length, base)

    async def count_prompt_tokens(self, base: str, messages: list) -> int:
        return await asyncio.to_thread(self.engine.count_prompt_tokens, base, messages)

    async def dataset_tokens(self, base: str, examples: list) -> list[int]:
        return await asyncio.to_thread(self.engine.dataset_tokens, base, examples)

    async def create_adapter(self, base: str, spec: LoraSpec, dest_path: str):
        """Stream Accepted, then None once revision 0 of a user model is written at dest_path."""
        yield self._accepted()
        try:
            await asyncio.to_thread(self.engine.create_adapter, base, spec, dest_path)
        except (EngineError, ValueError, OSError) as e:
            yield Raised(e)
            return
        yield None

    # -- what Serve calls -----------------------------------------------------------------------------

    async def check_health(self) -> None:
        """Serve restarts a replica whose check raises (an engine child that died and cannot reload)."""
        for base in self.bases:
            if not await asyncio.to_thread(self.engine.is_ready, base):
                raise RuntimeError(f"{base} is not loaded")

    async def record_routing_stats(self) -> dict:
        """This replica's figures: Serve's controller collects them; /v1/health lists them."""
        open_requests = 0
        for base in self.bases:
            stats = await asyncio.to_thread(self.engine.stats, base)
            open_requests += stats.get("open_requests", 0)
        return {"replica": self.replica, "pid": os.getpid(), "bases": self.bases, "adapters": list(self.held),
                "open_requests": open_requests, "served": dict(self.served), **self.counters}

    def __del__(self):
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.shutdown()


def build(args: dict):
    """Serve's application builder (`import_path: inference.serve.deployment:build` in a config file,
    or `manage.py deployengine`): `args` is application.application_args()'s dictionary."""
    return EngineDeployment.options(**args.get("deployment", {})).bind(
        bases=args["bases"], engine=args.get("engine", {}), engine_process=args.get("engine_process", True),
        ready_timeout=args.get("ready_timeout", 600.0))
