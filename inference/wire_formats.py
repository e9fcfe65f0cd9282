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

from inference.engine import structured
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


async def answer(stream: GenerationStream, request: GenerationRequest, model_id: str, revision: int,
                 parser=None) -> tuple[int, dict]:
    """(status, body) of a generation read to its end: the v1 JSON answer, or the error object."""
    return await read_whole(stream, V1Answer(request, model_id, revision, parser))


async def read_whole(stream: GenerationStream, whole) -> tuple[int, dict]:
    """Read `stream` to its end into a frameless format; its `result()`."""
    async for _ in frames(stream, whole):
        pass
    return whole.result()


def usage(done: Done) -> dict:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}


def token_logprobs(tokens) -> list[dict]:
    """OpenAI's logprobs.content entries for the engine's TokenLogprob list."""
    return [{"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode()),
             "top_logprobs": [{"token": a.token, "logprob": a.logprob, "bytes": list(a.token.encode())}
                              for a in t.top]}
            for t in tokens]


def failure_body(event: Failed) -> dict:
    """The error object of a generation that failed after it started."""
    return error_body(500, event.message, code=event.code)


class Collected:
    """A generation read to its end, frameless: each choice's text pieces, logprob tokens and finish
    reason, the usage, or the failure. The JSON answers (v1 and OpenAI) build their bodies from it."""

    def __init__(self, n: int):
        self.texts: dict[int, list[str]] = {i: [] for i in range(n)}
        self.tokens: dict[int, list] = {i: [] for i in range(n)}
        self.reasons: dict[int, str] = {}
        self.totals: dict | None = None
        self.error: dict | None = None

    def delta(self, event: TextDelta) -> list:
        self.texts[event.index].append(event.text)
        self.tokens[event.index].extend(event.logprobs)
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


class V1Answer(Collected):
    """POST /v1/generate_response without streaming: no frames; `result()` once the events are read.
    With a reasoning `parser`, the thinking goes to message.reasoning_content."""

    def __init__(self, request: GenerationRequest, model_id: str, revision: int, parser=None):
        super().__init__(request.params.n)
        self.head = {"id": request.request_id, "model": model_id, "revision": revision}
        self.logprobs = request.params.logprobs is not None
        self.parser = parser

    def result(self) -> tuple[int, dict]:
        """(status, body): the whole answer, or the error object."""
        if self.error is not None:
            return 500, self.error
        return 200, {**self.head, "created": int(time.time()),
                     "choices": [self._choice(i) for i in sorted(self.texts)], "usage": self.totals}

    def _choice(self, i: int) -> dict:
        message = {"role": "assistant", "content": "".join(self.texts[i])}
        if self.parser is not None:
            message["reasoning_content"], message["content"] = self.parser.split(message["content"])
        choice = {"index": i, "message": message, "finish_reason": self.reasons.get(i, "stop")}
        if self.logprobs:
            choice["logprobs"] = {"content": token_logprobs(self.tokens[i])}
        return choice


class V1Chunks:
    """POST /v1/generate_response with "stream": true, as SSE payloads. Finish reasons are held back to
    the last event, which also carries the usage."""

    def __init__(self, request: GenerationRequest, model_id: str, revision: int, parser=None):
        self.head = {"id": request.request_id, "model": model_id, "revision": revision}
        self.n = request.params.n
        self.reasons: dict[int, str] = {}
        self.logprobs = request.params.logprobs is not None
        self.splits = {i: parser.stream() for i in range(self.n)} if parser is not None else None

    def delta(self, event: TextDelta) -> list:
        return self._piece(event.index, event.text, event.logprobs)

    def finished(self, event: Finished) -> list:
        self.reasons[event.index] = FINISH_REASONS[event.finish_reason]
        return self._piece(event.index, None, ()) if self.splits is not None else []

    def _piece(self, index: int, text: str | None, tokens) -> list:
        """One event for a text delta (None: the end of the text, releasing what the parser held)."""
        delta = {"content": text or ""}
        if self.splits is not None:
            piece = self.splits[index].feed(text) if text is not None else self.splits[index].flush()
            delta = {"reasoning_content": piece.reasoning, "content": piece.content}
        if not any(delta.values()) and not tokens:
            return []
        choice = {"index": index, "delta": delta, "finish_reason": None}
        if self.logprobs:
            choice["logprobs"] = {"content": token_logprobs(tokens)}
        return [{**self.head, "choices": [choice]}]

    def done(self, event: Done) -> list:
        choices = [{"index": i, "delta": {}, "finish_reason": self.reasons.get(i, "stop")} for i in range(self.n)]
        return [{**self.head, "choices": choices, "usage": usage(event)}, "[DONE]"]

    def failed(self, event: Failed) -> list:
        return [failure_body(event)]


class OpenAIChat:
    """/openai/v1/chat/completions: the rules that turn a choice's text into message fields.

    Reasoning models' thinking goes to `reasoning_content` (inference/engine/reasoning.py); an answer
    that is exactly a call of one of the request's tools becomes `tool_calls`."""

    def __init__(self, request: GenerationRequest, model_id: str, fingerprint: str, parser, tools: list,
                 include_usage: bool = False):
        self.n = request.params.n
        self.parser = parser
        self.tools = tools
        self.logprobs = request.params.logprobs is not None
        self.include_usage = include_usage
        self.head = {"id": request.request_id, "created": int(time.time()), "model": model_id,
                     "system_fingerprint": fingerprint}

    def logprobs_of(self, tokens) -> dict | None:
        return {"content": token_logprobs(tokens), "refusal": None} if self.logprobs else None

    def tool_call(self, content: str) -> dict | None:
        return structured.parse_tool_call(content, self.tools) if self.tools else None


class OpenAIAnswer(OpenAIChat, Collected):
    """chat.completion, read to its end: no frames; `result()` gives (status, body)."""

    def __init__(self, *args, **kwargs):
        OpenAIChat.__init__(self, *args, **kwargs)
        Collected.__init__(self, self.n)

    def result(self) -> tuple[int, dict]:
        if self.error is not None:
            return 500, self.error
        choices = []
        for i in range(self.n):
            text = "".join(self.texts[i])
            reasoning, content = self.parser.split(text) if self.parser else (None, text)
            message = {"role": "assistant", "content": content, "refusal": None}
            if reasoning is not None:
                message["reasoning_content"] = reasoning
            reason = self.reasons.get(i, "stop")
            call = self.tool_call(content)
            if call is not None:
                message.update(content=None, tool_calls=[call])
                reason = "tool_calls"
            choices.append({"index": i, "message": message, "logprobs": self.logprobs_of(self.tokens[i]),
                            "finish_reason": reason})
        return 200, {**self.head, "object": "chat.completion", "choices": choices, "usage": self.totals}


class OpenAIChunks(OpenAIChat):
    """chat.completion.chunk objects, as SSE payloads. With tools, a choice's answer text is held until
    it finishes: only then is it known whether it is a call (one delta.tool_calls) or content."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.head = {**self.head, "object": "chat.completion.chunk"}
        self.splits = {i: self.parser.stream() if self.parser else None for i in range(self.n)}
        self.held = {i: [] for i in range(self.n)}
        self.started: set[int] = set()

    def _chunk(self, index: int, delta: dict, finish=None, tokens=()) -> dict:
        if index not in self.started:  # OpenAI names the role in each choice's first chunk
            self.started.add(index)
            delta = {"role": "assistant", **delta}
        choice = {"index": index, "delta": delta, "logprobs": self.logprobs_of(tokens) if tokens else None,
                  "finish_reason": finish}
        return {**self.head, "choices": [choice]}

    def _split(self, index: int, text: str | None) -> dict:
        reasoning, content = "", text or ""
        if self.splits[index] is not None:
            piece = self.splits[index].feed(text) if text is not None else self.splits[index].flush()
            reasoning, content = piece.reasoning, piece.content
        delta = {"reasoning_content": reasoning} if reasoning else {}
        if self.tools:
            self.held[index].append(content)
        elif content:
            delta["content"] = content
        return delta

    def delta(self, event: TextDelta) -> list:
        delta = self._split(event.index, event.text)
        if not delta and not (self.logprobs and event.logprobs):
            return []
        return [self._chunk(event.index, delta, tokens=event.logprobs)]

    def finished(self, event: Finished) -> list:
        i = event.index
        delta = self._split(i, None)
        reason = FINISH_REASONS[event.finish_reason]
        if self.tools:
            content = "".join(self.held[i])
            call = self.tool_call(content)
            if call is not None:
                delta["tool_calls"] = [{"index": 0, **call}]
                reason = "tool_calls"
            elif content:
                delta["content"] = content
        frames = [self._chunk(i, delta)] if delta else []
        return [*frames, self._chunk(i, {}, finish=reason)]

    def done(self, event: Done) -> list:
        last = [{**self.head, "choices": [], "usage": usage(event)}] if self.include_usage else []
        return [*last, "[DONE]"]

    def failed(self, event: Failed) -> list:
        return [failure_body(event)]


class CompletionFrames:
    """/openai/v1/completions: text_completion choices of one prompt (choice index = offset + index).
    Streamed, every delta and finish is a frame; read whole, `choices` and `totals` collect them."""

    def __init__(self, head: dict, offset: int, with_logprobs: bool, stream: bool):
        self.head, self.offset, self.with_logprobs, self.stream = head, offset, with_logprobs, stream
        self.texts: dict[int, list[str]] = {}
        self.tokens: dict[int, list] = {}
        self.reasons: dict[int, str] = {}
        self.totals: dict | None = None
        self.error: dict | None = None

    def _choice(self, index: int, text: str, tokens, reason) -> dict:
        return {"index": self.offset + index, "text": text, "finish_reason": reason,
                "logprobs": legacy_logprobs(tokens) if self.with_logprobs else None}

    def delta(self, event: TextDelta) -> list:
        if self.stream:
            return [{**self.head, "choices": [self._choice(event.index, event.text, event.logprobs, None)]}]
        self.texts.setdefault(event.index, []).append(event.text)
        self.tokens.setdefault(event.index, []).extend(event.logprobs)
        return []

    def finished(self, event: Finished) -> list:
        reason = FINISH_REASONS[event.finish_reason]
        if self.stream:
            return [{**self.head, "choices": [{**self._choice(event.index, "", (), reason), "logprobs": None}]}]
        self.reasons[event.index] = reason
        return []

    def done(self, event: Done) -> list:
        self.totals = usage(event)
        return []

    def failed(self, event: Failed) -> list:
        self.error = failure_body(event)
        return [self.error] if self.stream else []

    def choices(self) -> list[dict]:
        return [self._choice(i, "".join(self.texts.get(i, [])), self.tokens.get(i, []), self.reasons[i])
                for i in sorted(self.reasons)]


def legacy_logprobs(tokens) -> dict:
    """The completions API's logprobs object (parallel lists; top_logprobs as token -> logprob)."""
    offsets, at = [], 0
    for t in tokens:
        offsets.append(at)
        at += len(t.token)
    return {"tokens": [t.token for t in tokens], "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [{a.token: a.logprob for a in t.top} for t in tokens], "text_offset": offsets}


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
