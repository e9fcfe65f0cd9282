"""The API over a real socket: streaming as a client sees it, disconnects, the official openai client."""
import json
import time

import httpx
import pytest

HELLO = [{"role": "user", "content": "Tell me about cats."}]


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def sse_events(response) -> list[str]:
    """The data of each event, in arrival order, with the time each arrived."""
    events, buffer = [], ""
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            assert block.startswith("data: ")
            events.append((time.monotonic(), block[len("data: "):]))
    return events


def test_a_stream_arrives_piece_by_piece_and_matches_the_whole_answer(server, server_key):
    body = {"model": "llama-3.1-8b", "messages": HELLO, "temperature": 0, "max_tokens": 40, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/generate_response", json=body, headers=auth(server_key),
                      timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    deltas, last = chunks[:-1], chunks[-1]
    assert len(deltas) >= 3
    for chunk in deltas:
        assert set(chunk) == {"id", "model", "revision", "choices"}
        assert chunk["choices"][0]["finish_reason"] is None
        assert set(chunk["choices"][0]["delta"]) == {"content"}
    assert last["choices"][0]["finish_reason"] in ("stop", "length")
    assert last["usage"]["completion_tokens"] == len(deltas) or last["usage"]["completion_tokens"] >= len(deltas)
    streamed = "".join(c["choices"][0]["delta"]["content"] for c in deltas)
    whole = httpx.post(f"{server.url}/v1/generate_response", json={**body, "stream": False},
                       headers=auth(server_key), timeout=60).json()
    assert streamed == whole["choices"][0]["message"]["content"]


def test_an_error_before_streaming_is_a_plain_json_error(server, server_key):
    body = {"model": "nope", "messages": HELLO, "stream": True}
    response = httpx.post(f"{server.url}/v1/generate_response", json=body, headers=auth(server_key), timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_a_client_that_disconnects_stops_its_generation(server, server_key):
    body = {"model": "llama-3.1-8b", "messages": HELLO, "temperature": 1.0, "max_tokens": 1000, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/generate_response", json=body, headers=auth(server_key),
                      timeout=60) as response:
        for _ in response.iter_lines():
            break  # the first piece arrived: hang up
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        engine = httpx.get(f"{server.url}/v1/health").json()["engine"]
        if engine.get("running") == 0:
            break
        time.sleep(0.2)
    assert engine.get("running") == 0, engine


def test_the_official_openai_client_works_streaming_included(server, server_key):
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/openai/v1", api_key=server_key)
    ids = [m.id for m in client.models.list()]
    assert ids[:2] == ["llama-3.1-8b", "deepseek-r1-8b"]
    completion = client.chat.completions.create(model="llama-3.1-8b", messages=HELLO, temperature=0, max_tokens=24)
    text = completion.choices[0].message.content
    assert text and completion.usage.completion_tokens > 0
    stream = client.chat.completions.create(model="llama-3.1-8b", messages=HELLO, temperature=0, max_tokens=24,
                                            stream=True, stream_options={"include_usage": True})
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == text
    assert usage.completion_tokens == completion.usage.completion_tokens


def test_openai_errors_reach_the_client_as_exceptions(server, server_key):
    import openai

    client = OpenAI = openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key=server_key)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=HELLO)
    with pytest.raises(openai.AuthenticationError):
        OpenAI.with_options(api_key="tc-wrong").chat.completions.create(model="llama-3.1-8b", messages=HELLO)
