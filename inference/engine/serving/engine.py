"""The engine's public façade: one object, many base models, each served by its own thread."""
from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

from ..lora.adapters import copy_adapter, write_initial_adapter
from ..chat import render_prompt
from ..checkpoint import CheckpointInfo, inspect_checkpoint
from ..config import EngineConfig
from ..files import require_within
from ..errors import ContextLengthExceeded, EngineUnavailable, UnknownBaseModel
from .request import RequestState
from ..training.finetune_session import FineTuneSession
from ..training.session import TrainingSession
from ..types import (AdapterRef, Event, FineTuneEvent, FineTuneRequest, GenerationRequest, LoraSpec, SamplingParams,
                     TrainingRequest)
from .base_loop import BaseModelLoop

logger = logging.getLogger(__name__)


class Engine:
    """Generation and training on a catalog of base models, with LoRA adapters per request.

    `bases` maps a base model's name to its Hugging Face checkpoint directory. Nothing loads at
    construction: a base's tokenizer loads on first use, its weights on its own engine thread
    (requests submitted meanwhile wait in the queue). Methods are thread-safe."""

    def __init__(self, bases: Mapping[str, str], config: EngineConfig | None = None, *,
                 after_step: Callable[[], None] | None = None):
        self.config = config or EngineConfig()
        # Called on each engine thread after every loop iteration (a decode step and what came with
        # it), also after its last: the child process (process.py) sends the events of a step then.
        self._after_step = after_step
        self._paths = dict(bases)
        self._infos: dict[str, CheckpointInfo] = {}
        self._tokenizer_locks: dict[str, threading.Lock] = {}
        self._loops: dict[str, BaseModelLoop] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- catalog ----------------------------------------------------------------------------------

    @property
    def bases(self) -> list[str]:
        """Names of the configured base models."""
        return list(self._paths)

    def context_length(self, base: str) -> int:
        """The base model's context length in tokens (prompt + completion)."""
        return self._info(base).context_length

    def count_prompt_tokens(self, base: str, messages: Sequence[dict]) -> int:
        """Tokens of `messages` once rendered with the base's chat template."""
        return len(self._render(base, messages))

    def dataset_tokens(self, base: str, examples: Sequence) -> list[int]:
        """Tokens each dataset example (training.examples) costs per epoch with this base's
        tokenizer and chat template, untruncated: a caller compares them with context_length."""
        from ..training.finetune_data import example_tokens

        info = self._info(base)
        with self._tokenizer_locks[base]:
            return [example_tokens(info.tokenizer, e, 1 << 30) for e in examples]

    def start(self, base: str) -> None:
        """Start loading a base's weights now rather than at its first request."""
        self._loop(base)

    def is_ready(self, base: str) -> bool:
        """Whether a base's weights are loaded (False while loading, not started, or failed)."""
        loop = self._loops.get(base)
        return loop is not None and loop.ready.is_set() and loop.error is None

    # -- generation -------------------------------------------------------------------------------

    def submit(self, req: GenerationRequest, on_event: Callable[[Event], None]) -> None:
        """Start a generation; `on_event` gets TextDelta / Finished / Done / Failed on the engine
        thread (keep it cheap; if it raises, the request is cancelled).

        Raises, before anything streams: UnknownBaseModel, ContextLengthExceeded (the prompt
        leaves no room for one token), QueueFull, ValueError (invalid sampling parameters).
        max_tokens is clamped so that prompt + completion fit the context."""
        _check_params(req.params)
        if req.adapter is not None:
            require_within(self.config.adapters_root, req.adapter.path)
        prompt = self._render(req.base, req.messages, req.tools) if req.prompt is None else self._encode(req.base, req.prompt)
        context = self.context_length(req.base)
        if len(prompt) >= context:
            raise ContextLengthExceeded(len(prompt), context)
        max_tokens = min(req.params.max_tokens, context - len(prompt))
        self._loop(req.base).submit(RequestState(req, on_event, prompt, max_tokens))

    def submit_nowait(self, req: GenerationRequest, on_event: Callable[[Event], None]) -> Future:
        """submit on a thread of its own, since submit tokenizes the prompt (and the first request of a
        base loads its tokenizer): the future says whether it was accepted."""
        future: Future = Future()

        def run() -> None:
            try:
                self.submit(req, on_event)
            except BaseException as e:
                future.set_exception(e)
            else:
                future.set_result(None)

        threading.Thread(target=run, name=f"engine-submit-{req.request_id}", daemon=True).start()
        return future

    def cancel(self, request_id: str) -> None:
        """Stop a generation within one decode step: Finished(..., "cancelled") per unfinished
        index, then Done. Unknown or finished ids are ignored."""
        for loop in list(self._loops.values()):
            loop.cancel(request_id)

    # -- adapters ---------------------------------------------------------------------------------

    def create_adapter(self, base: str, spec: LoraSpec, dest_path: str, copy_from: AdapterRef | None = None) -> None:
        """Write a user model's adapter directory at `dest_path` (atomically; it must not exist).

        With `copy_from`, its weights are copied (an untouched revision 0, path "", has none: a
        fresh revision 0 is written). Otherwise revision 0 of `spec`: B is zero, so it generates
        exactly what the base generates."""
        require_within(self.config.adapters_root, dest_path)
        if copy_from is not None:
            require_within(self.config.adapters_root, copy_from.path)
        if copy_from is not None and copy_from.path:
            copy_adapter(copy_from.path, dest_path)
            return
        info = self._info(base)
        write_initial_adapter(info.config, spec, dest_path, base_name=Path(info.path).name)

    def forget_adapter(self, base: str, key: str) -> None:
        """Unload every cached revision of a user model (deleted): now, or when its running
        requests end. A base that is not running has nothing to unload."""
        loop = self._loops.get(base)
        if loop is None or loop.error is not None:
            return
        try:
            loop.call(lambda: loop.adapters.forget(key) if loop.adapters else None)
        except EngineUnavailable:
            pass  # a stopped engine holds no adapters

    # -- training ---------------------------------------------------------------------------------

    def train(self, req: TrainingRequest) -> Future:
        """Queue a training on the base's engine thread; the future resolves to a TrainingResult
        once the new revision is written to req.dest_path (when the weights changed)."""
        require_within(self.config.adapters_root, req.dest_path)
        require_within(self.config.adapters_root, req.source.path)
        future: Future = Future()
        self._loop(req.base).train(TrainingSession(req, future))
        return future

    def finetune(self, req: FineTuneRequest, on_event: Callable[[FineTuneEvent], None]) -> Future:
        """Queue a fine-tuning job on the base's engine thread (one job at a time per base, in
        submission order, in slices between decode steps). `on_event` gets its progress on the engine
        thread; the future resolves to a FineTuneResult once the new revision is written to
        req.dest_path, or raises FineTuneCancelled / the job's error (nothing written)."""
        require_within(self.config.adapters_root, req.dest_path)
        require_within(self.config.adapters_root, req.source.path)
        future: Future = Future()
        self._loop(req.base).finetune(FineTuneSession(req, on_event, future))
        return future

    def cancel_finetune(self, job_id: str) -> bool:
        """Stop a queued or running job; False when no engine thread has it (finished, or unknown)."""
        return any(loop.cancel_job(job_id) for loop in list(self._loops.values()))

    # -- lifecycle --------------------------------------------------------------------------------

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop every engine thread; requests still in flight get Failed."""
        with self._lock:
            self._closed = True
            loops = list(self._loops.values())
        for loop in loops:
            loop.stop(timeout)

    def stats(self, base: str) -> dict:
        """Counters of a base's engine thread (decode steps, prefills, largest batch seen), how many
        requests it has open (submitted and not yet closed), and why its weights failed to load (None
        while they load or once they did)."""
        loop = self._loops.get(base)
        if loop is None:
            return {}
        error = loop.error
        return {**loop.stats, "open_requests": loop.open_requests, "load_error": str(error) if error else None}

    # -- internals --------------------------------------------------------------------------------

    def _info(self, base: str) -> CheckpointInfo:
        info = self._infos.get(base)
        if info is not None:
            return info
        if base not in self._paths:
            raise UnknownBaseModel(f"Unknown base model {base!r}")
        with self._lock:
            if base not in self._infos:
                self._infos[base] = inspect_checkpoint(
                    self._paths[base], max_context_length=self.config.max_context_length)
                self._tokenizer_locks[base] = threading.Lock()
            return self._infos[base]

    def _loop(self, base: str) -> BaseModelLoop:
        loop = self._loops.get(base)
        if loop is not None:
            return loop
        info = self._info(base)
        with self._lock:
            if self._closed:
                raise EngineUnavailable("The engine is shutting down")
            if base not in self._loops:
                self._loops[base] = BaseModelLoop(base, info, self.config, self._after_step)
            return self._loops[base]

    def _encode(self, base: str, text: str) -> list[int]:
        """A raw prompt (legacy completions): the tokenizer's own special tokens (BOS), no template."""
        if not text:
            raise ValueError("prompt must not be empty")
        with self._tokenizer_locks[base]:
            return list(self._info(base).tokenizer.encode(text))

    def _render(self, base: str, messages: Sequence[dict], tools: Sequence[dict] = ()) -> list[int]:
        info = self._info(base)
        # Rust tokenizers refuse concurrent use ("Already borrowed"): one caller at a time.
        with self._tokenizer_locks[base]:
            return render_prompt(info.tokenizer, messages, tools)


def _check_params(params: SamplingParams) -> None:
    """ValueError naming the field, for parameters the web side should have refused already."""
    if params.n < 1:
        raise ValueError(f"n must be at least 1, got {params.n}")
    if params.max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {params.max_tokens}")
    if not (math.isfinite(params.temperature) and params.temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0, got {params.temperature}")
    if not (0 < params.top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {params.top_p}")
    if params.logprobs is not None and not 0 <= params.logprobs <= 20:
        raise ValueError(f"logprobs must be in [0, 20], got {params.logprobs}")
    for name in ("presence_penalty", "frequency_penalty"):
        if not -2 <= getattr(params, name) <= 2:
            raise ValueError(f"{name} must be in [-2, 2], got {getattr(params, name)}")
    if any(not -100 <= value <= 100 for _, value in params.logit_bias):
        raise ValueError("logit_bias values must be in [-100, 100]")
