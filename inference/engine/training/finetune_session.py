"""A fine-tuning job inside a base's engine thread: slices of `FineTuneJob` between decode steps.

The adapter's lifecycle is `session.AdapterSession`'s (a fresh adapter, trained in place, written and
cached on success, dropped on cancel or error). Added here: cancellation from any thread, and
progress to `on_event` as FineTuneEvent; the future gets the FineTuneResult, FineTuneCancelled or the
error.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

import torch

from ..errors import FineTuneCancelled
from ..lora.manager import AdapterCache
from ..types import FineTuneEvent, FineTuneRequest
from .session import AdapterSession

logger = logging.getLogger(__name__)


class FineTuneSession(AdapterSession):
    kind = "fine-tuning job"

    def __init__(self, req: FineTuneRequest, on_event: Callable[[FineTuneEvent], None], future: Future):
        super().__init__(req, future)
        self.on_event = on_event
        self._cancelled = threading.Event()

    @property
    def job_id(self) -> str:
        return self.req.job_id

    def cancel(self) -> None:
        """Any thread: stop at the next slice."""
        self._cancelled.set()

    def _label(self) -> str:
        return self.req.job_id

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise FineTuneCancelled(f"job {self.req.job_id} was cancelled")

    def _expected(self, error: Exception) -> bool:
        return isinstance(error, FineTuneCancelled)

    def _before_load(self) -> None:
        # An untouched revision 0 (no directory) gets its LoRA A from peft's init, which draws from the
        # process-wide generator: seeded here, the job's seed fixes it like the rest of the job.
        if not self.req.source.path:
            torch.manual_seed(self.req.seed)

    def _make_job(self, adapters: AdapterCache, tokenizer, context_length: int):
        from .finetune_job import FineTuneJob

        job = FineTuneJob(adapters.peft_model, tokenizer, self._adapter_name, self.req, context_length, self._emit)
        self._emit("message", f"job started from revision {self.req.source.revision}: {job.total_steps} steps",
                   {"total_steps": job.total_steps})
        return job

    def _complete(self, adapters: AdapterCache) -> None:
        self._keep(adapters)
        self.future.set_result(self._job.result)

    def _emit(self, type_: str, message: str, data: dict) -> None:
        try:
            self.on_event(FineTuneEvent(job_id=self.req.job_id, type=type_, message=message, data=data))
        except Exception:
            logger.exception("a progress callback of job %s failed", self.req.job_id)
