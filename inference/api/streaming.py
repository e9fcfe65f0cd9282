"""Server-Sent Events responses (the frames come from inference/wire_formats.py)."""
import json
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse

from inference.stream import GenerationStream

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStream(StreamingHttpResponse):
    """Server-Sent Events of one generation, one `data:` line per frame. Django closes a response once
    its request is over, even when the client left before the first byte and the frames were never
    read: closing this one closes the generation too (the engine stops, the user's generation slot
    comes back). If the client disconnects mid-stream, the ASGI server cancels the iteration and
    wire_formats.frames closes the generation."""

    def __init__(self, frames: AsyncIterator, generation: GenerationStream):
        super().__init__(_sse(frames), content_type="text/event-stream", headers=SSE_HEADERS)
        self._generation = generation.hand_over()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._generation.close()


def sse(payload) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


async def _sse(frames: AsyncIterator):
    async for frame in frames:
        yield sse(frame)
