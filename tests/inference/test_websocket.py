"""The Playground's chat websocket (Channels' communicator): auth, origin check, streaming, cancel."""
import pytest
from channels.testing import WebsocketCommunicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

HELLO = [{"role": "user", "content": "Tell me about cats."}]


@pytest.fixture
def application():
    from tigercity.asgi import application

    return application


@pytest.fixture
async def chat(alice):
    """A connected socket for Alice (the session middleware's job is tested through the app below)."""
    from inference.consumers import ChatConsumer

    communicator = WebsocketCommunicator(ChatConsumer.as_asgi(), "/ws/chat/")
    communicator.scope["user"] = alice
    connected, _ = await communicator.connect()
    assert connected
    yield communicator
    await communicator.disconnect()


async def receive_until(communicator, kind: str, timeout=30) -> list[dict]:
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        messages.append(message)
        if message["type"] in (kind, "error"):
            return messages


async def test_an_anonymous_socket_is_refused(application):
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"origin", b"http://localhost")])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_a_socket_from_another_origin_is_refused(application):
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_generation_streams_deltas_then_finished_then_done(chat):
    await chat.send_json_to({"type": "generate", "id": "a1", "model": "llama-3.1-8b", "messages": HELLO,
                             "temperature": 0, "max_tokens": 30})
    messages = await receive_until(chat, "done")
    assert messages[0] == {"type": "start", "id": "a1", "model": "llama-3.1-8b", "revision": 0}
    deltas = [m for m in messages if m["type"] == "delta"]
    assert len(deltas) >= 3 and all(m["id"] == "a1" and m["index"] == 0 for m in deltas)
    kinds = [m["type"] for m in messages]
    assert kinds.index("finished") > kinds.index("delta") and kinds[-1] == "done"
    assert messages[-1]["usage"]["completion_tokens"] >= len(deltas) > 0


async def test_invalid_requests_get_an_error_message_and_the_socket_stays_open(chat):
    await chat.send_json_to({"type": "generate", "id": "b1", "model": "llama-3.1-8b", "messages": []})
    [error] = await receive_until(chat, "error")
    assert error["id"] == "b1" and error["error"]["param"] == "messages"
    await chat.send_json_to({"type": "generate", "id": "b2", "model": "nope", "messages": HELLO})
    [error] = await receive_until(chat, "error")
    assert error["error"]["type"] == "not_found_error"
    await chat.send_json_to({"type": "generate", "id": "b3", "model": "llama-3.1-8b", "messages": HELLO,
                             "max_tokens": 2})
    assert (await receive_until(chat, "done"))[-1]["type"] == "done"


async def test_cancel_stops_a_running_generation(chat):
    await chat.send_json_to({"type": "generate", "id": "c1", "model": "llama-3.1-8b", "messages": HELLO,
                             "temperature": 1.0, "max_tokens": 1000})
    first = await chat.receive_json_from(timeout=30)
    assert first["type"] == "start"
    await chat.receive_json_from(timeout=30)  # a delta
    await chat.send_json_to({"type": "cancel", "id": "c1"})
    messages = await receive_until(chat, "cancelled")
    assert messages[-1] == {"type": "cancelled", "id": "c1"}
