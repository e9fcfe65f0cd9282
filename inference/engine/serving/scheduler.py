"""Which waiting requests join the running batch, and when."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .request import RequestState
from ..types import AdapterRef


class Scheduler:
    """First come, first served, within the batch's row limit and a prefill budget per step.

    A request whose adapter cannot be loaded yet (every slot held by running requests) is passed
    over, so requests for adapters already on the device are not stuck behind it; a request that
    does not fit the row limit blocks the queue, so large `n` requests are not starved."""

    def __init__(self, max_batch_size: int, prefill_token_budget: int):
        self.max_batch_size = max_batch_size
        self.prefill_token_budget = prefill_token_budget
        self.waiting: deque[RequestState] = deque()

    def __len__(self) -> int:
        return len(self.waiting)

    def add(self, request: RequestState) -> None:
        self.waiting.append(request)

    def remove(self, request_id: str) -> RequestState | None:
        """Take a waiting request out of the queue (cancelled before it ran)."""
        for request in self.waiting:
            if request.request_id == request_id:
                self.waiting.remove(request)
                return request
        return None

    def next_admission(
        self, running_rows: int, prefilled_tokens: int, can_acquire: Callable[[AdapterRef | None], bool]
    ) -> RequestState | None:
        """Pop the next request to prefill now, or None when nothing more joins this step.

        running_rows: rows in the batch plus rows admitted this step; prefilled_tokens: prompt
        tokens prefilled this step (the first request of a step always fits the budget)."""
        for request in self.waiting:
            if running_rows > 0 and running_rows + request.n > self.max_batch_size:
                return None
            if prefilled_tokens > 0 and prefilled_tokens + len(request.prompt_ids) > self.prefill_token_budget:
                return None
            if can_acquire(request.req.adapter):
                self.waiting.remove(request)
                return request
        return None
