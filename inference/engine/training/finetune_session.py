"""A fine-tuning job inside a base's engine thread: slices of `FineTuneJob` between decode steps.

Like `TrainingSession` for reward updates: the source revision is loaded under a fresh adapter name
(generations of it keep their weights), trained in place, and on success written to `dest_path`
(atomically) and cached as (source.key, dest_revision). On cancel or error the adapter is dropped:
nothing on disk changed, the model stays at its source revision. Progress goes to `on_event` as
FineTuneEvent; the future gets the FineTuneResult, FineTuneCancelled or the error.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from ..errors import FineTuneCancelled
from ..lora.manager import AdapterCache
from ..types import AdapterRef, FineTuneEvent, FineTuneRequest

logger = logging.getLogger(__name__)


class FineTuneSession:
    def __init__(self, req: FineTuneRequest, on_event: Callable[[FineTuneEvent], None], future: Future):
        self.req = req
        self.on_event = on_event
        self.future = future
        self._job = None
        self._adapter_name: str | None = None
        self._cancelled = threading.Event()

    @property
    def job_id(self) -> str:
        return self.req.job_id

    def cancel(self) -> None:
        """Any thread: stop at the next slice."""
        self._cancelled.set()

    def step(self, adapters: AdapterCache, tokenizer, context_length: int) -> bool:
        """Do one slice; True once the future is resolved. Never raises."""
        try:
            if self._cancelled.is_set():
                raise FineTuneCancelled(f"job {self.req.job_id} was cancelled")
            if self._job is None:
                return self._start(adapters, tokenizer, context_length)
            if not self._job.step():
                return False
            self._complete(adapters)
        except Exception as e:
            if not isinstance(e, FineTuneCancelled):
                logger.exception("fine-tuning job %s failed", self.req.job_id)
            self._discard(adapters)
            if not self.future.done():
                self.future.set_exception(e)
        finally:
            module = adapters.module
            if module.training:
                module.eval()
        return True

    def abort(self, adapters: AdapterCache | None, error: BaseException) -> None:
        if adapters is not None:
            self._discard(adapters)
        if not self.future.done():
            self.future.set_exception(error)

    def _emit(self, type_: str, message: str, data: dict) -> None:
        try:
            self.on_event(FineTuneEvent(job_id=self.req.job_id, type=type_, message=message, data=data))
        except Exception:
            logger.exception("a progress callback of job %s failed", self.req.job_id)

    def _start(self, adapters: AdapterCache, tokenizer, context_length: int) -> bool:
        if not self.future.set_running_or_notify_cancel():
            return True
        from .finetune_job import FineTuneJob

        self._adapter_name = adapters.load_detached(self.req.source, spec=self.req.lora)
        self._job = FineTuneJob(adapters.peft_model, tokenizer, self._adapter_name, self.req, context_length, self._emit)
        self._emit("message", f"job started from revision {self.req.source.revision}: {self._job.total_steps} steps",
                   {"total_steps": self._job.total_steps})
        return False

    def _complete(self, adapters: AdapterCache) -> None:
        from ..lora.saving import write_revision

        write_revision(adapters.peft_model, self._adapter_name, self.req.dest_path)
        ref = AdapterRef(key=self.req.source.key, revision=self.req.dest_revision, path=self.req.dest_path)
        adapters.adopt(ref, self._adapter_name)
        self._adapter_name = None
        self.future.set_result(self._job.result)

    def _discard(self, adapters: AdapterCache) -> None:
        if self._adapter_name is not None:
            name, self._adapter_name = self._adapter_name, None
            try:
                adapters.drop(name)
            except Exception:
                logger.exception("could not delete job adapter %s", name)
