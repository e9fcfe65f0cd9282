"""Trainings inside a base's engine thread, one unit of work between two decode steps.

`AdapterSession` is what reward trainings (`TrainingSession`) and fine-tuning jobs
(`FineTuneSession`) share: the source revision is loaded under a FRESH adapter name (never the
cached one: generations of that revision keep running on its weights) and trained in place; on
success the new revision is written to `dest_path` (atomically) and the adapter cached as
(source.key, dest_revision); on any error, cancel or shutdown it is deleted, so nothing on disk
changed and the model stays at its source revision. The future gets the result or the exception.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future

from ..lora.manager import AdapterCache
from ..types import AdapterRef, TrainingRequest, TrainingResult

logger = logging.getLogger(__name__)


class AdapterSession:
    """The lifecycle of one training of a detached adapter. Subclasses make the job (`_make_job`:
    an object with `step() -> bool` and `result`) and say what completion does (`_complete`)."""

    kind = "training"  # in log messages

    def __init__(self, req, future: Future):
        self.req = req  # .source, .lora, .dest_path, .dest_revision
        self.future = future
        self._job = None
        self._adapter_name: str | None = None

    def step(self, adapters: AdapterCache, tokenizer, context_length: int) -> bool:
        """Do one unit of work; True once the future is resolved. Never raises."""
        try:
            self._check_cancelled()
            if self._job is None:
                if not self.future.set_running_or_notify_cancel():
                    return True  # the caller cancelled before it started
                self._before_load()
                self._adapter_name = adapters.load_detached(self.req.source, spec=self.req.lora)
                self._job = self._make_job(adapters, tokenizer, context_length)
                return False
            if not self._job.step():
                return False
            self._complete(adapters)
        except Exception as e:
            if not self._expected(e):
                logger.exception("%s %s failed", self.kind, self._label())
            self._discard(adapters)
            if not self.future.done():
                self.future.set_exception(e)
        finally:
            module = adapters.module
            if module.training:  # generation passes adapter_names, which peft refuses in train mode
                module.eval()
        return True

    def _before_load(self) -> None:
        """Runs on the engine thread just before the source revision is loaded."""

    def abort(self, adapters: AdapterCache | None, error: BaseException) -> None:
        """Give up (cancelled while queued, or the engine shutting down): drop the adapter and fail
        the future."""
        if adapters is not None:
            self._discard(adapters)
        if not self.future.done():
            self.future.set_exception(error)

    # -- for subclasses ------------------------------------------------------------------------

    def _make_job(self, adapters: AdapterCache, tokenizer, context_length: int):
        raise NotImplementedError

    def _complete(self, adapters: AdapterCache) -> None:
        raise NotImplementedError

    def _check_cancelled(self) -> None:
        """Raise to stop the session at this unit (nothing by default)."""

    def _expected(self, error: Exception) -> bool:
        """Whether an error ends the session without being logged as a failure."""
        return False

    def _label(self) -> str:
        raise NotImplementedError

    def _keep(self, adapters: AdapterCache) -> None:
        """Write the trained adapter as the new revision and hand it to the cache."""
        from ..lora.saving import write_revision

        write_revision(adapters.peft_model, self._adapter_name, self.req.dest_path)
        ref = AdapterRef(key=self.req.source.key, revision=self.req.dest_revision, path=self.req.dest_path)
        adapters.adopt(ref, self._adapter_name)
        self._adapter_name = None  # the cache owns it now

    def _discard(self, adapters: AdapterCache) -> None:
        if self._adapter_name is not None:
            name, self._adapter_name = self._adapter_name, None
            try:
                adapters.drop(name)
            except Exception:
                logger.exception("could not delete %s adapter %s", self.kind, name)


class TrainingSession(AdapterSession):
    """Drives one `training.RewardUpdate` to its end. When it left the weights unchanged, nothing is
    written and the adapter is deleted."""

    def __init__(self, req: TrainingRequest, future: Future):
        super().__init__(req, future)

    def _label(self) -> str:
        return self.req.request_id

    def _make_job(self, adapters: AdapterCache, tokenizer, context_length: int):
        from .reward_update import RewardUpdate  # the training engineer's module; imported when needed

        return RewardUpdate(adapters.peft_model, tokenizer, self._adapter_name, self.req.groups, self.req.params,
                            context_length)

    def _complete(self, adapters: AdapterCache) -> None:
        result: TrainingResult = self._job.result
        if result.changed:
            self._keep(adapters)
        else:
            self._discard(adapters)
        self.future.set_result(result)
