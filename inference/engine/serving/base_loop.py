"""The engine thread of one base model: owns the device, the model, the adapters and the batch.

Every loop iteration: take new requests, cancellations and commands; admit newcomers (continuous
batching); do at most one unit of training work; run one decode step for every running row. Short
prompts are prefilled inside that step's forward (ragged.py), others in a forward of their own before
it; either way they then join the running batch. Other threads only talk to it through `submit`,
`cancel`, `train`, `finetune`, `cancel_job` and `call`, which queue work under one condition variable.

Fine-tuning jobs run one at a time, in submission order, after any reward training (those are short
and a user waits on them). While requests are decoding, a job gets at most a third of the thread's
time (job_pacing.py); with nothing decoding it runs slice after slice.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

import torch

from ..lora.manager import AdapterCache
from .batch import Join, RunningBatch
from .job_pacing import JobPacer
from ..checkpoint import Checkpoint, CheckpointInfo, load_checkpoint
from ..config import EngineConfig
from ..errors import CheckpointError, EngineError, EngineUnavailable, FineTuneCancelled, QueueFull
from .request import RequestState, SequenceState
from .runner import ModelRunner
from .controls import GrammarTokenizer, apply_controls, observe_sampled, row_controls
from .sampling import make_generator, sample_next
from .scheduler import Scheduler
from ..training.finetune_session import FineTuneSession
from ..training.session import TrainingSession
from ..types import TextDelta

logger = logging.getLogger(__name__)


class BaseModelLoop:
    """One engine loop thread per base model (lazy: the weights load on the thread itself)."""

    def __init__(self, base: str, info: CheckpointInfo, config: EngineConfig,
                 after_step: Callable[[], None] | None = None):
        self.base = base
        self.info = info
        self.config = config
        self._after_step = after_step  # engine thread, after each iteration (see Engine)
        self._cv = threading.Condition()
        # Guarded by _cv: the mailbox from other threads.
        self._incoming: list[RequestState] = []
        self._cancels: list[str] = []
        self._commands: list[Callable[[], None]] = []
        self._trainings: deque[TrainingSession] = deque()
        self._jobs: deque[FineTuneSession] = deque()
        self._pacer = JobPacer()  # engine thread only
        self._active: set[str] = set()  # request ids submitted and not yet closed
        self._waiting = 0  # submitted, not yet running (QueueFull counts these)
        self._stopping = False
        self._error: EngineError | None = None
        self.ready = threading.Event()  # weights loaded (or failed: see `error`)
        # Engine thread only.
        self.checkpoint: Checkpoint | None = None
        self.adapters: AdapterCache | None = None
        self.batch: RunningBatch | None = None
        self.runner: ModelRunner | None = None
        self._grammar_tokenizer: GrammarTokenizer | None = None  # built at the first constrained request
        self.scheduler = Scheduler(config.max_batch_size, config.prefill_token_budget)
        self.stats = {"decode_steps": 0, "max_rows": 0, "prefills": 0, "packed_prefills": 0}
        self._thread = threading.Thread(target=self._run, name=f"engine-{base}", daemon=True)
        self._thread.start()

    # -- any thread -----------------------------------------------------------------------------

    @property
    def error(self) -> EngineError | None:
        return self._error

    @property
    def open_requests(self) -> int:
        with self._cv:
            return len(self._active)

    def submit(self, request: RequestState) -> None:
        """Queue a request; raises QueueFull, or the load error, before anything streams."""
        with self._cv:
            self._check_open()
            if request.request_id in self._active:
                raise ValueError(f"request id {request.request_id!r} is already running")
            if self._waiting >= self.config.max_queue:
                raise QueueFull(self._waiting, self.config.max_queue)
            self._waiting += 1
            self._active.add(request.request_id)
            request.on_close = self._retire
            self._incoming.append(request)
            self._cv.notify()

    def cancel(self, request_id: str) -> None:
        """Cancel a request (running or waiting) at the next loop iteration; unknown ids are ignored."""
        with self._cv:
            if request_id in self._active:
                self._cancels.append(request_id)
                self._cv.notify()

    def train(self, task: TrainingSession) -> None:
        """Queue a training; trainings of a base run one after another, interleaved with decoding.
        Raises QueueFull when max_queue trainings already wait (the web side caps them per user too)."""
        with self._cv:
            self._check_open()
            if len(self._trainings) >= self.config.max_queue:
                raise QueueFull(len(self._trainings), self.config.max_queue)
            self._trainings.append(task)
            self._cv.notify()

    def finetune(self, job: FineTuneSession) -> None:
        """Queue a fine-tuning job; jobs of a base run one at a time in submission order. Raises
        QueueFull when max_queue jobs already wait."""
        with self._cv:
            self._check_open()
            if len(self._jobs) >= self.config.max_queue:
                raise QueueFull(len(self._jobs), self.config.max_queue)
            self._jobs.append(job)
            self._cv.notify()

    def cancel_job(self, job_id: str) -> bool:
        """Stop a job: a waiting one at once, the running one at its next slice. False if this loop
        does not have it."""
        with self._cv:
            job = next((j for j in self._jobs if j.job_id == job_id), None)
            if job is None:
                return False
            job.cancel()
            waiting = job is not self._jobs[0]
            if waiting:
                self._jobs.remove(job)
            self._cv.notify()
        if waiting:
            job.abort(None, FineTuneCancelled(f"job {job_id} was cancelled before it started"))
        return True

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the engine thread between two steps (adapter bookkeeping and the like)."""
        with self._cv:
            self._check_open()
            self._commands.append(fn)
            self._cv.notify()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop: running and waiting requests get Failed, trainings an exception."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout)

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error
        if self._stopping:
            raise EngineUnavailable("The engine is shutting down")

    # -- the engine thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._load()
        except Exception as e:
            logger.exception("could not load base model %s", self.base)
            error = e if isinstance(e, EngineError) else CheckpointError(f"Could not load {self.base}: {e}")
            with self._cv:
                self._error = error
            self.ready.set()
            self._drain(error)
            self._step_done()
            return
        self.ready.set()
        while True:
            work = self._take_work()
            if work is None:
                break
            try:
                self._iteration(*work)
            except Exception as e:  # a bug: fail what was in flight, keep serving
                logger.exception("engine loop of %s", self.base)
                self._fail_running(e)
            self._step_done()
        self._drain(EngineUnavailable("The engine is shutting down"))
        self._step_done()

    def _step_done(self) -> None:
        if self._after_step is not None:
            try:
                self._after_step()
            except Exception:
                logger.exception("the after-step hook of %s failed", self.base)

    def _load(self) -> None:
        self.checkpoint = load_checkpoint(
            self.info.path, device=self.config.device, dtype=self.config.dtype, info=self.info)
        if self.checkpoint.device.type == "cpu" and self.config.cpu_threads:
            torch.set_num_threads(self.config.cpu_threads)
        self.adapters = AdapterCache(self.checkpoint.model, self.config.adapter_cache_size)
        self.batch = RunningBatch(self.checkpoint.device)
        self.runner = ModelRunner(self.checkpoint.model.config, self.checkpoint.device, self.adapters)

    def _take_work(self):
        """Block while there is nothing to do; None once stopping."""
        with self._cv:
            while True:
                if self._stopping:
                    return None
                if self._incoming or self._cancels or self._commands:
                    break
                if len(self.batch) or self._trainings or self._jobs:
                    break
                if len(self.scheduler):
                    # Queued requests with nothing running always admit one; should that ever fail
                    # to happen, poll instead of spinning.
                    self._cv.wait(0.05)
                    break
                self._cv.wait()
            work = (self._incoming, self._cancels, self._commands)
            self._incoming, self._cancels, self._commands = [], [], []
            return work

    def _iteration(self, incoming, cancels, commands) -> None:
        for request in incoming:
            self.scheduler.add(request)
        for request_id in cancels:
            self._cancel(request_id)
        for fn in commands:
            try:
                fn()
            except Exception:
                logger.exception("engine command failed")
        admitted = self._admissions()
        packed = admitted if self._packs(admitted) else []
        if admitted and not packed:
            self._prefill(admitted)
        if not self._train_step():
            self._job_step()
        if len(self.batch):
            started = time.perf_counter()
            self._decode_step(packed)
            self._pacer.decoded(time.perf_counter() - started)

    # -- admission: prefill and merge ------------------------------------------------------------

    def _admissions(self) -> list[RequestState]:
        """Take the requests that fit this step, each holding its adapter."""
        admitted: list[RequestState] = []
        rows, tokens = len(self.batch), 0
        while True:
            request = self.scheduler.next_admission(rows, tokens, self.adapters.can_acquire)
            if request is None:
                break
            with self._cv:
                self._waiting -= 1
            tokens += len(request.prompt_ids)
            try:
                request.adapter_name = self.adapters.acquire(request.req.adapter)
            except Exception as e:
                self._fail(request, e)
                continue
            rows += request.n
            admitted.append(request)
        return admitted

    def _packs(self, admitted: list[RequestState]) -> bool:
        """Whether these prompts are prefilled inside this step's decode forward (ragged.py): only
        with rows decoding (else there is no step to share) and short enough not to hold them up."""
        return (bool(admitted) and len(self.batch) > 0 and self.runner.ragged is not None
                and sum(len(r.prompt_ids) for r in admitted) <= self.config.packed_prefill_tokens)

    def _prefill(self, admitted: list[RequestState]) -> None:
        """Prefill requests in a forward of their own, and merge them into the batch."""
        try:
            if len(admitted) == 1:  # alone: exactly the forward it would get on an idle server
                cache, logits = self.runner.prefill(admitted[0].prompt_ids, admitted[0].adapter_name)
                caches = [cache]
            else:
                caches, logits = self.runner.prefill_many([r.prompt_ids for r in admitted],
                                                          [r.adapter_name for r in admitted])
        except Exception as e:
            for request in admitted:
                self._fail(request, e)
            return
        self._join(admitted, caches, logits)

    def _join(self, admitted: list[RequestState], caches: list, logits: torch.Tensor) -> None:
        """Sample prefilled requests' first tokens and merge those still going into the batch."""
        self.stats["prefills"] += len(admitted)
        joins = [join for request, cache, row_logits in zip(admitted, caches, logits.split(1))
                 if (join := self._start(request, cache, row_logits)) is not None]
        try:
            self.batch.add(joins)
        except Exception as e:  # e.g. out of memory while concatenating caches: the newcomers fail
            logger.exception("merging prefilled requests into the batch of %s failed", self.base)
            for join in joins:
                self._fail(join.rows[0].request, e)
        self.stats["max_rows"] = max(self.stats["max_rows"], len(self.batch))

    def _start(self, request: RequestState, cache, logits: torch.Tensor) -> Join | None:
        """Sample each candidate's first token from the prefill's logits (1, V); None if it is over."""
        try:
            params = request.req.params
            seed = params.seed if params.seed is not None else secrets.randbits(62)
            grammar = self._grammar() if params.grammar else None
            request.sequences = [
                SequenceState(request, i, self.checkpoint.tokenizer, self.checkpoint.eos_token_ids,
                              make_generator(seed + i, self.checkpoint.device),
                              row_controls(params, logits.shape[-1], self.checkpoint.device, grammar,
                                           self.checkpoint.tokenizer))
                for i in range(request.n)
            ]
            sampled = self._sample(logits.expand(request.n, -1), request.sequences).tolist()
            survivors, next_tokens = [], []
            for seq, token in zip(request.sequences, sampled):
                if self._accept(seq, token):
                    survivors.append(seq)
                    next_tokens.append(token)
        except Exception as e:
            self._fail(request, e)
            return None
        if request.closed:  # over at its first token, or its consumer raised
            self._retire(request)
            return None
        return Join(cache=cache, rows=survivors, next_tokens=next_tokens)

    # -- decoding --------------------------------------------------------------------------------

    def _decode_step(self, newcomers: list[RequestState]) -> None:
        """One token for every running row; `newcomers` are prefilled in the same forward, then join."""
        batch = self.batch
        try:
            if newcomers:
                logits, mask, caches, first = self.runner.decode_and_prefill(
                    batch, [r.prompt_ids for r in newcomers], [r.adapter_name for r in newcomers])
            else:
                logits, mask = self.runner.decode(batch)  # (B, V), (B, T + 1)
            sampled = self._sample(logits, batch.rows)  # (B,)
        except Exception as e:
            logger.exception("decode step of %s failed", self.base)
            self._fail_running(e)
            for request in newcomers:
                self._fail(request, e)
            return
        batch.commit_step(mask, sampled)
        self.stats["decode_steps"] += 1
        keep = [i for i, (row, token) in enumerate(zip(batch.rows, sampled.tolist())) if self._accept(row, token)]
        self._drop_rows(keep)
        if newcomers:
            self.stats["packed_prefills"] += len(newcomers)
            self._join(newcomers, caches, first)

    def _sample(self, logits: torch.Tensor, rows: list[SequenceState]) -> torch.Tensor:
        temperatures, top_ps, generators, controlled = [], [], [], []
        for i, row in enumerate(rows):
            params = row.request.req.params
            temperatures.append(params.temperature)
            top_ps.append(params.top_p)
            generators.append(row.generator)
            if row.controls is not None:
                controlled.append(i)
        if not controlled:  # the common case: no per-row work at all
            return sample_next(logits, temperatures, top_ps, generators)
        controls = [rows[i].controls for i in controlled]
        modify = [k for k, c in enumerate(controls) if c.modifies]
        raw = logits
        if modify:
            logits = apply_controls(logits, [controlled[k] for k in modify], [controls[k] for k in modify])
        sampled = sample_next(logits, temperatures, top_ps, generators)
        observe_sampled(raw, sampled, controlled, controls, self.checkpoint.tokenizer,
                                 self.checkpoint.eos_token_ids)
        return sampled

    def _grammar(self) -> GrammarTokenizer:
        if self._grammar_tokenizer is None:
            self._grammar_tokenizer = GrammarTokenizer(self.checkpoint.tokenizer,
                                                       self.checkpoint.model.config.vocab_size)
        return self._grammar_tokenizer

    def _accept(self, row: SequenceState, token: int) -> bool:
        """Give a row its token and stream the text; True while the row keeps decoding."""
        request = row.request
        if request.closed:
            return False
        try:
            text = row.accept(token)
            pending = row.controls.pending if row.controls is not None else None
            if pending is None:
                if text:
                    request.emit(TextDelta(index=row.index, text=text))
            elif text or (row.finished and pending):
                # held-back tokens' log-probabilities travel with the text they became
                request.emit(TextDelta(index=row.index, text=text, logprobs=tuple(pending)))
                pending.clear()
            if row.finished:
                request.finish_index(row.index, row.finish_reason, row.num_tokens)
        except Exception as e:
            self._fail(request, e)
            return False
        if request.closed:  # its last index finished, or its consumer raised (closed by emit)
            self._retire(request)
            return False
        return not row.finished

    def _drop_rows(self, keep: list[int]) -> None:
        """Keep these rows, minus rows of requests that closed meanwhile (another row failed)."""
        self.batch.keep([i for i in keep if not self.batch.rows[i].request.closed])

    # -- ends of requests --------------------------------------------------------------------------

    def _cancel(self, request_id: str) -> None:
        request = self.scheduler.remove(request_id)
        if request is not None:
            with self._cv:
                self._waiting -= 1
        else:
            request = next((r.request for r in self.batch.rows if r.request.request_id == request_id), None)
        if request is None or request.closed:
            return
        request.cancel()
        self._drop_rows(list(range(len(self.batch))))

    def _fail(self, request: RequestState, error: Exception) -> None:
        if isinstance(error, EngineError):
            message, code = str(error), error.code
        else:
            logger.exception("request %s failed", request.request_id, exc_info=error)
            message, code = f"Generation failed: {type(error).__name__}: {error}", "engine_error"
        request.fail(message, code)

    def _fail_running(self, error: Exception) -> None:
        """Fail every request of the batch (a batched forward failed: they were all in it)."""
        for request in {id(r.request): r.request for r in self.batch.rows}.values():
            if not request.closed:
                self._fail(request, error)
        self.batch.clear()

    def _retire(self, request: RequestState) -> None:
        """A request that ends lets go of its adapter and its id (idempotent)."""
        if request.adapter_name is not None:
            name, request.adapter_name = request.adapter_name, None
            self.adapters.release(name)
        with self._cv:
            self._active.discard(request.request_id)

    def _drain(self, error: EngineError) -> None:
        """At the end of the loop: fail everything still queued or running."""
        with self._cv:
            pending = self._incoming
            trainings = list(self._trainings) + list(self._jobs)
            self._incoming, self._trainings, self._jobs = [], deque(), deque()
        running = [] if self.batch is None else list({id(r.request): r.request for r in self.batch.rows}.values())
        for request in running + list(self.scheduler.waiting) + pending:
            if not request.closed:
                request.fail(str(error), error.code)
        self.scheduler.waiting.clear()
        if self.batch is not None:
            self.batch.clear()
        for task in trainings:
            task.abort(self.adapters, error)
        with self._cv:
            self._active.clear()
            self._waiting = 0

    # -- training ----------------------------------------------------------------------------------

    def _train_step(self) -> bool:
        """One unit of the oldest training's work (never more: others are streaming meanwhile);
        False when there was none."""
        with self._cv:
            task = self._trainings[0] if self._trainings else None
        if task is None:
            return False
        if task.step(self.adapters, self.checkpoint.tokenizer, self.checkpoint.context_length):
            with self._cv:
                self._trainings.popleft()
        return True

    def _job_step(self) -> None:
        """One slice of the oldest job, unless streams are owed decode time for earlier slices."""
        with self._cv:
            job = self._jobs[0] if self._jobs else None
        decoding = len(self.batch) > 0
        if job is None or not self._pacer.may_run(decoding):
            return
        started = time.perf_counter()
        done = job.step(self.adapters, self.checkpoint.tokenizer, self.checkpoint.context_length)
        self._pacer.ran_slice(time.perf_counter() - started, decoding)
        if done:
            with self._cv:
                self._jobs.popleft()
