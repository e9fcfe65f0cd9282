"""Engine events -> the v1 answer: one JSON object, or Server-Sent Events (API.md: generate_response)."""
import json
import time

from django.http import StreamingHttpResponse

from inference.engine.types import GenerationRequest
from tigercity.error_responses import error_body

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
FINISH_REASONS = {"stop": "stop", "length": "length", "cancelled": "stop"}


class EventStream(StreamingHttpResponse):
    """Server-Sent Events of one generation. Django closes a response once its request is over, even
    when the client left before the first byte and the events were never read: closing this one
    closes the generation too (the engine stops, the user's generation slot comes back)."""

    def __init__(self, events, generation):
        super().__init__(events, content_type="text/event-stream", headers=SSE_HEADERS)
        self._generation = generation

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._generation.close()


def sse(payload) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def _head(request: GenerationRequest, model_id: str, revision: int) -> dict:
    return {"id": request.request_id, "model": model_id, "revision": revision}


async def collect(generation, request: GenerationRequest, model_id: str, revision: int) -> tuple[int, dict]:
    """(status, body) once the generation is over: the whole answer, or the error object."""
    texts: dict[int, list[str]] = {i: [] for i in range(request.params.n)}
    reasons: dict[int, str] = {}
    try:
        async for event in generation:
            if event.kind == "delta":
                texts[event.index].append(event.text)
            elif event.kind == "finished":
                reasons[event.index] = FINISH_REASONS[event.finish_reason]
            elif event.kind == "failed":
                return 500, error_body(500, event.message, code=event.code)
            elif event.kind == "done":
                totals = usage(event)
    finally:
        generation.close()
    body = {
        **_head(request, model_id, revision),
        "created": int(time.time()),
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": "".join(texts[i])},
             "finish_reason": reasons.get(i, "stop")}
            for i in sorted(texts)
        ],
        "usage": totals,
    }
    return 200, body


async def stream(generation, request: GenerationRequest, model_id: str, revision: int):
    """SSE lines. Finish reasons are held back to the last event, which also carries the usage.

    If the client disconnects, the ASGI server cancels this generator and `finally` stops the engine.
    """
    head = _head(request, model_id, revision)
    reasons: dict[int, str] = {}
    try:
        async for event in generation:
            if event.kind == "delta":
                yield sse({**head, "choices": [{"index": event.index, "delta": {"content": event.text},
                                                "finish_reason": None}]})
            elif event.kind == "finished":
                reasons[event.index] = FINISH_REASONS[event.finish_reason]
            elif event.kind == "failed":
                yield sse(error_body(500, event.message, code=event.code))
                return
            elif event.kind == "done":
                choices = [{"index": i, "delta": {}, "finish_reason": reasons.get(i, "stop")}
                           for i in range(request.params.n)]
                yield sse({**head, "choices": choices, "usage": usage(event)})
                yield sse("[DONE]")
    finally:
        generation.close()


def usage(done) -> dict:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}
