"""Engine events -> what each client reads: one translation per wire format, one switch on the event kind.

A generation's events (engine/types.py: TextDelta*, one Finished per index, then Done; or one Failed)
reach clients in four shapes: the v1 JSON answer, v1 Server-Sent Events, OpenAI chat.completion chunks,
and the Playground's websocket frames. Each shape is a small class with one method per event kind that
returns the frames that event becomes; `frames()` is the only place that looks at `event.kind`. Errors
inside a stream use the one error body (tigercity.error_responses.error_body).
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Protocol

from inference.engine.reasoning import ReasoningParser, ReasoningStream
from inference.engine.types import Done, Failed, Finished, GenerationRequest, TextDelta
from inference.stream import GenerationStream
from tigercity.error_responses import error_body

# The engine's "cancelled" is the client's own doing: clients see a normal stop.
FINISH_REASONS = {"stop": "stop", "length": "length", "cancelled": "stop"}


class WireFormat(Protocol):
    def delta(self, event: TextDelta) -> list: ...
    def finished(self, event: Finished) -> list: ...
    def done(self, event: Done) -> list: ...
    def failed(self, event: Failed) -> list: ...


async def frames(stream: GenerationStream, wire: WireFormat) -> AsyncIterator:
    """The frames of `stream` in `wire`'s shape; the stream is closed when this ends, however it ends
    (the engine stops if it was still generating, the user's generation slot comes back)."""
    handlers = {"delta": wire.delta, "finished": wire.finished, "done": wire.done, "failed": wire.failed}
    try:
        async for event in stream:
            for frame in handlers[event.kind](event):
                yield frame
    finally:
        stream.close()


async def answer(stream: GenerationStream, request: GenerationRequest, model_id: str, revision: int) -> tuple[int, dict]:
    """(status, body) of a generation read to its end: the v1 JSON answer, or the error object."""
    whole = V1Answer(request, model_id, revision)
    async for _ in frames(stream, whole):
        pass
    return whole.result()


def usage(done: Done) -> dict:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}


def failure_body(event: Failed) -> dict:
    """The error object of a generation that failed after it started."""
    return error_body(500, event.message, code=event.code)


class V1Answer:
    """POST /v1/generate_response without streaming: no frames; `result()` once the events are read."""

    def __init__(self, request: GenerationRequest, model_id: str, revision: int):
        self.head = {"id": request.request_id, "model": model_id, "revision": revision}
        self.texts: dict[int, list[str]] = {i: [] for i in range(request.params.n)}
        self.reasons: dict[int, str] = {}
        self.totals: dict | None = None
        self.error: dict | None = None

    def delta(self, event: TextDelta) -> list:
        self.texts[event.index].append(event.text)
        return []

    def finished(self, event: Finished) -> list:
        self.reasons[event.index] = FINISH_REASONS[event.finish_reason]
        return []

    def done(self, event: Done) -> list:
        self.totals = usage(event)
        return []

    def failed(self, event: Failed) -> list:
        self.error = failure_body(event)
        return []

    def result(self) -> tuple[int, dict]:
        """(status, body): the whole answer, or the error object."""
        if self.error is not None:
            return 500, self.error
        return 200, {
            **self.head,
            "created": int(time.time()),
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": "".join(self.texts[i])},
                 "finish_reason": self.reasons.get(i, "stop")}
                for i in sorted(self.texts)
            ],
            "usage": self.totals,
        }


class V1Chunks:
    """POST /v1/generate_response with "stream": true, as SSE payloads. Finish reasons are held back to
    the last event, which also carries the usage."""

    def __init__(self, request: GenerationRequest, model_id: str, revision: int):
        self.head = {"id": request.request_id, "model": model_id, "revision": revision}
        self.n = request.params.n
        self.reasons: dict[int, str] = {}

    def delta(self, event: TextDelta) -> list:
        return [{**self.head, "choices": [{"index": event.index, "delta": {"content": event.text},
                                           "finish_reason": None}]}]

    def finished(self, event: Finished) -> list:
        self.reasons[event.index] = FINISH_REASONS[event.finish_reason]
        return []

    def done(self, event: Done) -> list:
        choices = [{"index": i, "delta": {}, "finish_reason": self.reasons.get(i, "stop")} for i in range(self.n)]
        return [{**self.head, "choices": choices, "usage": usage(event)}, "[DONE]"]

    def failed(self, event: Failed) -> list:
        return [failure_body(event)]


class OpenAIChunks:
    """/openai/v1/chat/completions with "stream": true: chat.completion.chunk objects, as SSE payloads."""

    def __init__(self, request: GenerationRequest, model_id: str, include_usage: bool):
        self.head = {"id": request.request_id, "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model_id, "system_fingerprint": None}
        self.include_usage = include_usage
        self.started: set[int] = set()

    def delta(self, event: TextDelta) -> list:
        delta = {"content": event.text}
        if event.index not in self.started:  # OpenAI names the role in each choice's first chunk
            self.started.add(event.index)
            delta = {"role": "assistant", **delta}
        return [{**self.head, "choices": [{"index": event.index, "delta": delta, "finish_reason": None}]}]

    def finished(self, event: Finished) -> list:
        reason = FINISH_REASONS[event.finish_reason]
        return [{**self.head, "choices": [{"index": event.index, "delta": {}, "finish_reason": reason}]}]

    def done(self, event: Done) -> list:
        last = [{**self.head, "choices": [], "usage": usage(event)}] if self.include_usage else []
        return [*last, "[DONE]"]

    def failed(self, event: Failed) -> list:
        return [failure_body(event)]


class WebsocketFrames:
    """The Playground's websocket (inference/consumers.py): JSON frames tagged with the client's id."""

    def __init__(self, request_id: str, parser: ReasoningParser | None = None):
        self.id = request_id
        # A thinking model's parser (DeepSeek-R1): its deltas also carry "reasoning" and "content", the
        # text split by inference.engine.reasoning, so the page can fold the reasoning; "text" stays whole.
        self.parser = parser
        self.streams: dict[int, ReasoningStream] = {}

    def delta(self, event: TextDelta) -> list:
        frame = {"type": "delta", "id": self.id, "index": event.index, "text": event.text}
        if self.parser is not None:
            split = self.streams.setdefault(event.index, self.parser.stream()).feed(event.text)
            frame.update(reasoning=split.reasoning, content=split.content)
        return [frame]

    def finished(self, event: Finished) -> list:
        out = []
        stream = self.streams.get(event.index)
        held = stream.flush() if stream else None
        if held and (held.reasoning or held.content):  # a partial tag held back: plain text after all
            out.append({"type": "delta", "id": self.id, "index": event.index, "text": "",
                        "reasoning": held.reasoning, "content": held.content})
        out.append({"type": "finished", "id": self.id, "index": event.index,
                    "finish_reason": FINISH_REASONS[event.finish_reason]})
        return out

    def done(self, event: Done) -> list:
        return [{"type": "done", "id": self.id, "usage": usage(event)}]

    def failed(self, event: Failed) -> list:
        return [{"type": "error", "id": self.id, **failure_body(event)}]
