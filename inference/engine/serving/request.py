"""The engine-side state of one generation request and of each of its rows (candidates)."""
from __future__ import annotations

import logging
from collections.abc import Callable

from .controls import RowControls
from .detokenizer import IncrementalDetokenizer, StopStrings
from ..types import Done, Event, EventCallback, Failed, Finished, GenerationRequest

logger = logging.getLogger(__name__)


class RequestState:
    """One GenerationRequest inside the engine: its prompt, its rows, and its event stream.

    Events follow types.py's order: TextDelta*, one Finished per index, then Done; or one Failed
    that replaces whatever was left. Nothing is emitted after Done/Failed."""

    def __init__(self, req: GenerationRequest, on_event: EventCallback, prompt_ids: list[int], max_tokens: int):
        assert max_tokens >= 1, max_tokens
        self.req = req
        self.prompt_ids = prompt_ids
        self.max_tokens = max_tokens  # clamped: prompt + completion <= context length
        self.adapter_name: str | None = None  # set while the request holds its adapter
        self.sequences: list[SequenceState] = []
        self.closed = False
        self.on_close: Callable[[RequestState], None] | None = None  # runs just before Done/Failed
        self._on_event = on_event
        self._unfinished = req.params.n

    @property
    def request_id(self) -> str:
        return self.req.request_id

    @property
    def n(self) -> int:
        return self.req.params.n

    def emit(self, event: Event) -> None:
        """Call the consumer; a consumer that raises is cut off (its request gets cancelled)."""
        if self.closed:
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("event callback of request %s raised; cancelling it", self.request_id)
            self.closed = True

    def finish_index(self, index: int, reason: str, completion_tokens: int) -> None:
        """Emit Finished for one index, and Done once every index has finished."""
        assert self._unfinished > 0, f"request {self.request_id} finished too often"
        self.emit(Finished(index=index, finish_reason=reason, completion_tokens=completion_tokens))
        self._unfinished -= 1
        if self._unfinished == 0:
            total = sum(s.num_tokens for s in self.sequences)
            self._end(Done(prompt_tokens=len(self.prompt_ids), completion_tokens=total))

    def cancel(self) -> None:
        """Finish every index not finished yet as "cancelled" (then Done)."""
        finished = {s.index for s in self.sequences if s.finish_reason is not None}
        for index in range(self.n):
            if index not in finished:
                seq = next((s for s in self.sequences if s.index == index), None)
                if seq is not None:
                    seq.finish_reason = "cancelled"
                self.finish_index(index, "cancelled", seq.num_tokens if seq else 0)

    def fail(self, message: str, code: str = "engine_error") -> None:
        """Emit one Failed event and close the stream."""
        self._end(Failed(message=message, code=code))

    def _end(self, event: Event) -> None:
        # Resources (adapter hold, request id) go first: a consumer that reacts to Done by
        # submitting again finds them free.
        if self.on_close is not None:
            self.on_close(self)
        self.emit(event)
        self.closed = True


class SequenceState:
    """One row of the running batch: candidate `index` of a request, with its own text stream."""

    def __init__(self, request: RequestState, index: int, tokenizer, eos_token_ids: frozenset[int], generator,
                 controls: RowControls | None = None):
        self.request = request
        self.index = index
        self.generator = generator
        self.controls = controls  # penalties, bias, grammar, log-probabilities; None for a free row
        self.num_tokens = 0  # sampled tokens, EOS included
        self.finish_reason: str | None = None
        self._eos = eos_token_ids
        self._detok = IncrementalDetokenizer(tokenizer)
        self._stops = StopStrings(request.req.params.stop)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def accept(self, token_id: int) -> str:
        """Take one sampled token; return the text to stream. Sets finish_reason when done."""
        assert self.finish_reason is None, "token for a finished row"
        self.num_tokens += 1
        if token_id in self._eos:
            return self._end("stop")
        text, stopped = self._stops.feed(self._detok.push(token_id))
        if stopped:
            self.finish_reason = "stop"
            return text
        if self.num_tokens >= self.request.max_tokens:
            return text + self._end("length")
        return text

    def _end(self, reason: str) -> str:
        """Release held-back text (unless it turns out to hold a stop string) and finish."""
        text, stopped = self._stops.feed(self._detok.flush())
        self.finish_reason = "stop" if stopped else reason
        return text if stopped else text + self._stops.flush()
