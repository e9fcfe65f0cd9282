"""Resumable generations on the chat websocket (inference/resumable.py): a generation started with a
`resume` key outlives its socket, and another socket of the same user attaches to it.

The hold point (tigercity/failpoints.py) keeps each generation after its first token until the test
releases it, so "still running when the socket closes" is a state, not a race with the demo model.
"""
import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from tests.inference.test_websocket import HELLO, disconnect, receive_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

HOLD, RELEASE = "stream_hold_after_first_token", "stream_release_hold"


@pytest.fixture
def points(tmp_path, monkeypatch):
    monkeypatch.setenv("TIGER_FAILPOINT_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
async def connect():
    from inference.consumers import ChatConsumer

    opened = []

    async def open_for(user):
        communicator = WebsocketCommunicator(ChatConsumer.as_asgi(), "/ws/chat/")
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        assert connected
        opened.append(communicator)
        return communicator

    yield open_for
    for communicator in opened:
        await disconnect(communicator)


async def until(predicate):
    """Wait for a state of the server (a relay task ends within a decode step of its cue)."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    assert predicate()


async def held_generation(points, connect, user, resume: str = ""):
    """A socket of `user` whose generation "a1" is held after its first token (the hold point armed)."""
    (points / HOLD).touch()
    socket = await connect(user)
    await start_held(socket, resume)
    return socket


async def start_held(socket, resume: str = "") -> None:
    """Start a long generation under id "a1" and read up to its first token, where the armed hold point
    keeps it running."""
    await socket.send_json_to({"type": "generate", "id": "a1", "model": "llama-3.1-8b", "messages": HELLO,
                               "temperature": 1.0, "max_tokens": 200, **({"resume": resume} if resume else {})})
    assert (await socket.receive_json_from(timeout=60))["type"] == "start"
    while not (frame := await socket.receive_json_from(timeout=60)).get("text"):
        assert frame["type"] == "delta", frame


def text(frames) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "delta")


async def test_a_resumable_generation_goes_on_after_its_socket_closes_and_another_socket_follows_it(
        points, connect, alice):
    from inference.admission import running

    (points / HOLD).touch()
    first = await connect(alice)
    await first.send_json_to({"type": "generate", "id": "a1", "model": "llama-3.1-8b", "messages": HELLO,
                              "temperature": 0, "max_tokens": 24, "resume": "chat-7"})
    start = await first.receive_json_from(timeout=60)
    assert start["type"] == "start"
    before = [await first.receive_json_from(timeout=60)]
    while not before[-1].get("text"):  # up to its first token, where it is held
        before.append(await first.receive_json_from(timeout=60))
    assert not (points / HOLD).exists()  # taken: this generation is held after its first token
    await first.disconnect()
    assert running(alice.pk) == 1  # not cancelled with its socket

    second = await connect(alice)
    await second.send_json_to({"type": "attach", "id": "b1", "resume": "chat-7"})
    assert await second.receive_json_from(timeout=30) == {**start, "id": "b1"}
    for frame in before:  # what was written before the reload, replayed
        assert await second.receive_json_from(timeout=30) == {**frame, "id": "b1"}
    (points / RELEASE).touch()
    rest = await receive_until(second, "done")
    assert rest[-1]["type"] == "done" and {f["id"] for f in rest} == {"b1"}
    assert [f["type"] for f in rest[-2:]] == ["finished", "done"] and text(rest)
    await until(lambda: running(alice.pk) == 0)

    # The same request again, followed by one socket from start to end: the same greedy answer.
    third = await connect(alice)
    await third.send_json_to({"type": "generate", "id": "c1", "model": "llama-3.1-8b", "messages": HELLO,
                              "temperature": 0, "max_tokens": 24})
    assert text(await receive_until(third, "done")) == text(before) + text(rest)


async def test_attaching_takes_over_and_a_cancel_from_the_new_socket_stops_it(points, connect, alice):
    first = await held_generation(points, connect, alice, resume="chat-8")
    second = await connect(alice)
    await second.send_json_to({"type": "attach", "id": "b1", "resume": "chat-8"})
    taken = await first.receive_json_from(timeout=30)
    assert taken["type"] == "error" and taken["id"] == "a1" and taken["error"]["code"] == "resumed_elsewhere"
    assert [(await second.receive_json_from(timeout=30))["type"] for _ in range(2)] == ["start", "delta"]
    await second.send_json_to({"type": "cancel", "id": "b1"})
    assert (await receive_until(second, "cancelled"))[-1] == {"type": "cancelled", "id": "b1"}
    assert await first.receive_nothing(timeout=0.2)


async def test_nothing_to_attach_another_users_key_and_a_bad_key_are_errors(points, connect, alice, bob):
    first = await held_generation(points, connect, alice, resume="chat-9")
    other = await connect(bob)
    await other.send_json_to({"type": "attach", "id": "x", "resume": "chat-9"})
    refused = await other.receive_json_from(timeout=30)
    assert refused["type"] == "error" and refused["error"]["code"] == "generation_not_found"
    await other.send_json_to({"type": "attach", "id": "y", "resume": "chat 9!"})
    bad = await other.receive_json_from(timeout=30)
    assert bad["error"]["code"] == "invalid_value" and bad["error"]["param"] == "resume"
    await first.send_json_to({"type": "generate", "id": "a2", "model": "llama-3.1-8b", "messages": HELLO,
                              "resume": ["not", "a", "string"]})
    assert (await first.receive_json_from(timeout=30))["error"]["param"] == "resume"
    await first.send_json_to({"type": "cancel", "id": "a1"})
    assert (await receive_until(first, "cancelled"))[-1]["type"] == "cancelled"


async def test_a_generation_without_a_resume_key_still_ends_with_its_socket(points, connect, alice):
    from inference.admission import running

    first = await held_generation(points, connect, alice)
    await first.disconnect()
    await until(lambda: running(alice.pk) == 0)


async def test_a_stopped_or_finished_generation_that_its_page_saw_end_is_not_offered_again(points, connect, alice):
    first = await held_generation(points, connect, alice, resume="chat-10")
    await first.send_json_to({"type": "cancel", "id": "a1"})
    assert (await receive_until(first, "cancelled"))[-1]["type"] == "cancelled"
    await first.send_json_to({"type": "generate", "id": "a2", "model": "llama-3.1-8b", "messages": HELLO,
                              "max_tokens": 2, "resume": "chat-11"})
    assert (await receive_until(first, "done"))[-1]["type"] == "done"
    for key in ("chat-10", "chat-11"):
        await first.send_json_to({"type": "attach", "id": f"b-{key}", "resume": key})
        refused = await first.receive_json_from(timeout=30)
        assert refused.get("error", {}).get("code") == "generation_not_found", refused


async def test_a_generation_that_ended_while_no_page_followed_it_is_replayed_whole(points, connect, alice):
    from inference.admission import running

    first = await connect(alice)
    await first.send_json_to({"type": "generate", "id": "a1", "model": "llama-3.1-8b", "messages": HELLO,
                              "temperature": 0, "max_tokens": 6, "resume": "chat-12"})
    assert (await first.receive_json_from(timeout=60))["type"] == "start"
    await first.disconnect()
    await until(lambda: running(alice.pk) == 0)  # it ended with nobody following it
    second = await connect(alice)
    await second.send_json_to({"type": "attach", "id": "b1", "resume": "chat-12"})
    replayed = await receive_until(second, "done")
    assert replayed[0]["type"] == "start" and replayed[-1]["type"] == "done" and {f["id"] for f in replayed} == {"b1"}
    third = await connect(alice)
    await third.send_json_to({"type": "generate", "id": "c1", "model": "llama-3.1-8b", "messages": HELLO,
                              "temperature": 0, "max_tokens": 6})
    assert text(replayed) == text(await receive_until(third, "done"))
    await second.send_json_to({"type": "attach", "id": "b2", "resume": "chat-12"})  # seen to its end: gone
    assert (await second.receive_json_from(timeout=30))["error"]["code"] == "generation_not_found"


async def test_a_user_keeps_at_most_max_kept_per_user_generations_the_oldest_forgotten(
        points, connect, alice, bob, monkeypatch):
    """Each ended generation is kept with its frames for a while: without a cap, a loop of short generations
    under new keys held memory without bound."""
    from inference import resumable
    from inference.admission import running

    monkeypatch.setattr(resumable, "MAX_KEPT_PER_USER", 2)
    for user, key in ((bob, "chat-1"), (alice, "chat-1"), (alice, "chat-2"), (alice, "chat-3")):
        socket = await connect(user)
        await socket.send_json_to({"type": "generate", "id": "a1", "model": "llama-3.1-8b", "messages": HELLO,
                                   "temperature": 0, "max_tokens": 6, "resume": key})
        assert (await socket.receive_json_from(timeout=60))["type"] == "start"
        await socket.disconnect()
    await until(lambda: running(alice.pk) == 0 and running(bob.pk) == 0)
    assert resumable.kept(alice.pk) == 2 and resumable.kept(bob.pk) == 1  # one user's cap never drops another's
    page = await connect(alice)
    await page.send_json_to({"type": "attach", "id": "b1", "resume": "chat-1"})  # the oldest: forgotten
    assert (await page.receive_json_from(timeout=30))["error"]["code"] == "generation_not_found"
    await page.send_json_to({"type": "attach", "id": "b3", "resume": "chat-3"})
    assert (await receive_until(page, "done"))[-1]["type"] == "done"
    assert resumable.kept(alice.pk) == 1  # seen to its end: gone
