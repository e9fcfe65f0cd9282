"""The Playground's chat websocket (Channels' communicator): auth, origin check, streaming, cancel."""
import asyncio

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
    await disconnect(communicator)


async def disconnect(communicator) -> None:
    """Close a test socket in a fixture's teardown. A consumer that does not end within the communicator's
    timeout is cancelled, and channels then raises CancelledError: a BaseException, which pytest does not
    catch in teardown, so every finalizer after it (monkeypatch's undo among them) would be skipped and
    its patches would leak into the rest of the session. Raised as an ordinary failure instead."""
    import asyncio

    try:
        await communicator.disconnect()
    except asyncio.CancelledError:
        raise AssertionError("the consumer did not end within the timeout after its socket closed") from None


async def receive_until(communicator, kind: str, timeout=30) -> list[dict]:
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        messages.append(message)
        if message["type"] in (kind, "error"):
            return messages


async def test_an_anonymous_socket_is_refused(application):
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"origin", b"http://localhost"),
                                                                            (b"host", b"localhost")])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_a_socket_from_another_origin_is_refused(application):
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize("origin, host, accepted", [
    ("http://localhost:45678", "localhost:45678", True),
    ("http://localhost", "localhost:80", True),  # default ports are the same origin
    ("http://localhost:9999", "localhost:45678", False),  # another port of the same host
    ("https://localhost:45678", "localhost:45678", False),  # another scheme
    ("http://evil.example:45678", "localhost:45678", False),
    ("http://evil.example", "evil.example", False),  # a host that is not allowed
    ("null", "localhost", False),
    ("https://tiger.example.com", "10.0.0.5:45678", True),  # a trusted origin behind a proxy
])
async def test_the_origin_must_match_scheme_host_and_port(origin, host, accepted, settings):
    from tigercity.origin import origin_allowed

    settings.CSRF_TRUSTED_ORIGINS = ["https://tiger.example.com"]
    scope = {"type": "websocket", "scheme": "ws", "headers": [(b"origin", origin.encode()), (b"host", host.encode())]}
    assert origin_allowed(scope) is accepted


async def test_a_socket_from_another_port_of_the_same_host_is_refused(application):
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"origin", b"http://localhost:9999"),
                                                                            (b"host", b"localhost:45678")])
    connected, code = await communicator.connect()
    assert not connected and code != 4401  # refused before authentication is even looked at


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


async def test_cancel_stops_a_running_generation(chat, tmp_path, monkeypatch):
    from inference.stream import HOLD_POINT

    # Held after its first token until cancelled (tigercity/failpoints.py): the cancel always meets a running
    # generation, however short the demo model's answer (it once ended first, and "cancelled" never came).
    monkeypatch.setenv("TIGER_FAILPOINT_DIR", str(tmp_path))
    (tmp_path / HOLD_POINT).touch()
    await chat.send_json_to({"type": "generate", "id": "c1", "model": "llama-3.1-8b", "messages": HELLO,
                             "temperature": 1.0, "max_tokens": 1000})
    first = await chat.receive_json_from(timeout=30)
    assert first["type"] == "start"
    while not (frame := await chat.receive_json_from(timeout=30)).get("text"):  # up to the first token: held
        assert frame["type"] == "delta", frame
    await chat.send_json_to({"type": "cancel", "id": "c1"})
    messages = await receive_until(chat, "cancelled")
    assert messages[-1] == {"type": "cancelled", "id": "c1"}


async def test_an_id_that_is_still_running_is_refused_and_closing_the_socket_stops_the_generation(
        chat, alice, tmp_path, monkeypatch):
    from inference.admission import running
    from inference.stream import HOLD_POINT

    # Held after its first token (tigercity/failpoints.py), so it is still running however short the answer.
    monkeypatch.setenv("TIGER_FAILPOINT_DIR", str(tmp_path))
    (tmp_path / HOLD_POINT).touch()
    await chat.send_json_to({"type": "generate", "id": "d1", "model": "llama-3.1-8b", "messages": HELLO,
                             "temperature": 1.0, "max_tokens": 1000})
    assert (await chat.receive_json_from(timeout=30))["type"] == "start"
    while not (frame := await chat.receive_json_from(timeout=30)).get("text"):  # up to the first token: held
        assert frame["type"] == "delta", frame
    await chat.send_json_to({"type": "generate", "id": "d1", "model": "llama-3.1-8b", "messages": HELLO})
    message = await chat.receive_json_from(timeout=30)
    assert message["type"] == "error" and message["error"]["code"] == "duplicate_id", message
    assert running(alice.pk) == 1
    await chat.disconnect()
    for _ in range(300):  # the relay task ends within a decode step of being cancelled
        if running(alice.pk) == 0:
            break
        await asyncio.sleep(0.01)
    assert running(alice.pk) == 0


async def test_a_frame_that_is_not_json_gets_an_error_frame_and_the_socket_stays_open(chat):
    for frame in ("not json", "[" * 50_000):
        await chat.send_to(text_data=frame)
        reply = await chat.receive_json_from(timeout=30)
        assert reply["type"] == "error" and reply["error"]["code"] == "invalid_json"
    await chat.send_to(bytes_data=b"\x00\x01")
    assert (await chat.receive_json_from(timeout=30))["error"]["code"] == "invalid_json"
    await chat.send_json_to({"type": "cancel", "id": "nothing"})  # still open: answered by nothing, no error
    await chat.send_json_to({"type": "what"})
    assert (await chat.receive_json_from(timeout=30))["error"]["param"] == "type"


async def test_a_thinking_models_deltas_carry_its_reasoning_and_answer_apart(chat):
    from inference.engine.reasoning import parser_for

    await chat.send_json_to({"type": "generate", "id": "r1", "model": "deepseek-r1-8b", "messages": HELLO,
                             "temperature": 0, "max_tokens": 40})
    deltas = [m for m in await receive_until(chat, "done") if m["type"] == "delta"]
    text = "".join(m["text"] for m in deltas)
    reasoning, content = parser_for("DeepSeek-R1-8b").split(text)
    assert "".join(m["reasoning"] for m in deltas) == (reasoning or "")
    assert "".join(m["content"] for m in deltas) == content
    await chat.send_json_to({"type": "generate", "id": "l1", "model": "llama-3.1-8b", "messages": HELLO,
                             "temperature": 0, "max_tokens": 5})
    assert all("reasoning" not in m for m in await receive_until(chat, "done") if m["type"] == "delta")
