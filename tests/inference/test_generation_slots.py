"""A generation's concurrency slot comes back on every way out of a generating endpoint: every invalid
field is refused with an error object before a slot is taken or after it, and a valid request still runs
(with a limit of one generation at a time, a single leaked slot would make it a 429)."""
import pytest
from channels.testing import WebsocketCommunicator
from django.core.signals import request_finished
from django.db import close_old_connections

from inference.admission import running

HELLO = [{"role": "user", "content": "Hi"}]
VALID = {"model": "llama-3.1-8b", "messages": HELLO, "max_tokens": 2}

INVALID = [  # (field, value), each sent alone on top of VALID
    ("model", "no-such-model"), ("model", 7), ("messages", []), ("messages", "hi"),
    ("messages", [{"role": "robot", "content": "x"}]), ("messages", [{"role": "user"}]),
    ("temperature", -1), ("temperature", "hot"), ("top_p", 0), ("top_p", 2), ("max_tokens", 0),
    ("max_tokens", "many"), ("stop", 5), ("stop", [""]), ("seed", -1), ("seed", "x"), ("n", 0), ("n", 1000),
    ("stream", "yes"), ("unknown_field", 1),
]
# OpenAI's own rules accept top_p 0 and any integer seed (docs/api.md), so those two stay valid there.
OPENAI_INVALID = [(f, v) for f, v in INVALID if (f, v) not in (("top_p", 0), ("seed", -1))] + [
    ("stream_options", "yes"), ("stream_options", {"include_usage": "yes"}), ("frequency_penalty", 3),
    ("logit_bias", {"x": 1}), ("response_format", {"type": "xml"}), ("tool_choice", "required"),
    ("response_format", {"type": "json_schema", "json_schema": {"schema": {"type": "nonsense"}}}),
    ("messages", [{"role": "user", "content": [{"type": "image_url"}]}])]
ENDPOINTS = {"/v1/generate_response": INVALID, "/openai/v1/chat/completions": OPENAI_INVALID}


def close_like_the_server(response) -> None:
    """Close an unread streamed response as the server does once it is over. Django's test client only
    keeps request_finished from closing the test's database connection (inside its transaction, which
    PostgreSQL then refuses to use) when it consumes the stream itself, so do what it does."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


@pytest.fixture
def one_at_a_time(settings):
    settings.TIGER = {**settings.TIGER, "MAX_CONCURRENT_GENERATIONS": 1}


@pytest.mark.django_db
def test_every_invalid_field_on_every_endpoint_is_an_error_object_and_leaks_no_slot(api, alice, one_at_a_time):
    for path, table in ENDPOINTS.items():
        for field, value in table:
            for stream in (False, True):
                body = {**VALID, "stream": stream, field: value}
                response = api.post(path, body)
                assert 400 <= response.status_code < 500, (path, field, value, response.content)
                assert response.json()["error"]["message"], (path, field, value)
                assert running(alice.pk) == 0, f"{path} leaked a slot on {field}={value!r}"
        assert api.post(path, VALID).status_code == 200, path
        streamed = api.post(path, {**VALID, "stream": True})  # streamed end to end in test_live_api
        assert streamed.status_code == 200 and streamed["Content-Type"] == "text/event-stream", path
        close_like_the_server(streamed)
        assert running(alice.pk) == 0


@pytest.mark.django_db
def test_an_error_after_the_generation_started_gives_the_slot_back(api, alice, one_at_a_time, monkeypatch):
    from inference import wire_formats

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(wire_formats, "read_whole", broken)
    for path in ENDPOINTS:
        assert api.post(path, VALID).status_code == 500
        assert running(alice.pk) == 0, path


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_chat_socket_refuses_every_invalid_field_and_leaks_no_slot(alice, one_at_a_time):
    from inference.consumers import ChatConsumer

    chat = WebsocketCommunicator(ChatConsumer.as_asgi(), "/ws/chat/")
    chat.scope["user"] = alice
    assert (await chat.connect())[0]
    try:
        for i, (field, value) in enumerate(INVALID):
            await chat.send_json_to({"type": "generate", "id": f"bad{i}", **VALID, field: value})
            reply = await chat.receive_json_from(timeout=30)
            assert reply["type"] == "error" and reply["id"] == f"bad{i}", (field, value, reply)
            assert running(alice.pk) == 0, f"the socket leaked a slot on {field}={value!r}"
        await chat.send_json_to({"type": "generate", "id": "ok", **VALID})
        while (message := await chat.receive_json_from(timeout=30))["type"] not in ("done", "error"):
            pass
        assert message["type"] == "done", message
    finally:
        await chat.disconnect()
