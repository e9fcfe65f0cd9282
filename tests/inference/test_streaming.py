"""A streamed answer that is never read (the client left before the first byte) still ends its generation."""
import asyncio

import pytest

from inference.admission import acquire_slot, running
from inference.api.streaming import EventStream
from inference.stream import GenerationStream


async def _events():
    yield {"never": "read"}


@pytest.mark.django_db  # closing a response sends request_finished (database connections are tidied)
def test_closing_an_unread_event_stream_stops_the_generation_and_gives_the_slot_back():
    loop = asyncio.new_event_loop()
    try:
        cancelled = []
        generation = GenerationStream("gen-unread", loop, cancel=lambda: cancelled.append(True))
        generation.on_close(acquire_slot(user_id=4242))
        assert running(4242) == 1
        response = EventStream(_events(), generation)
        response.close()  # what Django does once the request is over
        assert cancelled == [True] and running(4242) == 0
        response.close()  # twice is harmless
        assert running(4242) == 0
    finally:
        loop.close()
