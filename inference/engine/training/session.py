"""A training run inside a base's engine thread, one unit of work between two decode steps."""
from __future__ import annotations

import logging
from concurrent.futures import Future

from ..lora.manager import AdapterCache
from ..types import AdapterRef, TrainingRequest, TrainingResult

logger = logging.getLogger(__name__)


class TrainingSession:
    """Drives one `training.RewardUpdate` to its end and registers the revision it writes.

    The source revision is loaded under a FRESH adapter name (never the cached one: generations of
    that revision keep running on its weights). When the job changed the weights, storage writes
    them to `dest_path` and the adapter is cached as (source.key, dest_revision); otherwise, or on
    any error, it is deleted. The future gets the TrainingResult or the exception."""

    def __init__(self, req: TrainingRequest, future: Future):
        self.req = req
        self.future = future
        self._job = None
        self._adapter_name: str | None = None

    def step(self, adapters: AdapterCache, tokenizer, context_length: int) -> bool:
        """Do one unit of work; True once the future is resolved. Never raises."""
        try:
            if self._job is None:
                return self._start(adapters, tokenizer, context_length)
            if not self._job.step():
                return False
            self._complete(adapters, self._job.result)
        except Exception as e:
            logger.exception("training %s failed", self.req.request_id)
            self._discard(adapters)
            if not self.future.done():
                self.future.set_exception(e)
        finally:
            module = adapters.module
            if module.training:  # generation passes adapter_names, which peft refuses in train mode
                module.eval()
        return True

    def abort(self, adapters: AdapterCache | None, error: BaseException) -> None:
        """Give up (engine shutting down): drop the adapter and fail the future."""
        if adapters is not None:
            self._discard(adapters)
        if not self.future.done():
            self.future.set_exception(error)

    def _start(self, adapters: AdapterCache, tokenizer, context_length: int) -> bool:
        if not self.future.set_running_or_notify_cancel():
            return True  # the caller cancelled before it started
        from .reward_update import RewardUpdate  # the training engineer's module; imported when needed

        self._adapter_name = adapters.load_detached(self.req.source, spec=self.req.lora)
        self._job = RewardUpdate(
            adapters.peft_model, tokenizer, self._adapter_name, self.req.groups, self.req.params, context_length
        )
        return False

    def _complete(self, adapters: AdapterCache, result: TrainingResult) -> None:
        if result.changed:
            from ..lora.saving import write_revision

            write_revision(adapters.peft_model, self._adapter_name, self.req.dest_path)
            ref = AdapterRef(key=self.req.source.key, revision=self.req.dest_revision, path=self.req.dest_path)
            adapters.adopt(ref, self._adapter_name)
            self._adapter_name = None  # the cache owns it now
        else:
            self._discard(adapters)
        self.future.set_result(result)

    def _discard(self, adapters: AdapterCache) -> None:
        if self._adapter_name is not None:
            name, self._adapter_name = self._adapter_name, None
            try:
                adapters.drop(name)
            except Exception:
                logger.exception("could not delete training adapter %s", name)
