"""/openai/v1 as the OpenAI ecosystem uses it: the official SDK, LangChain and LiteLLM against the
shared live server. Few tokens each; the demo weights are tiny, so JSON comes from constrained decoding."""
import json

import httpx
import jsonschema
import openai
import pytest

LLAMA, R1 = "llama-3.1-8b", "deepseek-r1-8b"
PERSON = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
          "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0, "maximum": 120}}}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8}}, "required": ["city"]}}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(server, server_key):
    return openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key=server_key, max_retries=0)


def test_models_retrieve_answers_the_model_object_and_404_for_unknown_ids(client):
    model = client.models.retrieve(R1)
    assert (model.id, model.object, model.owned_by) == (R1, "model", "tigercity")
    with pytest.raises(openai.NotFoundError) as error:
        client.models.retrieve("no-such-model")
    assert error.value.body["code"] == "model_not_found"


def test_fields_that_clients_send_are_accepted_and_unsupported_ones_named(client):
    answer = client.chat.completions.create(
        model=LLAMA, max_tokens=3, temperature=0, top_p=0, seed=-1, user="u1", metadata={"k": "v"}, store=False,
        parallel_tool_calls=False, reasoning_effort="low", logit_bias={"5": -1}, presence_penalty=0.5,
        frequency_penalty=0.5, tools=[WEATHER], tool_choice="none",
        messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi", "name": "ann"},
                  {"role": "assistant", "content": None,
                   "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": "sunny"}])
    assert answer.id.startswith("chatcmpl-") and answer.system_fingerprint == f"{LLAMA}-r0"
    for extra, param in (({"modalities": ["text", "audio"]}, "modalities"), ({"frobnicate": 1}, "frobnicate")):
        with pytest.raises(openai.BadRequestError) as error:
            client.chat.completions.create(model=LLAMA, messages=ASK, max_tokens=1, extra_body=extra)
        assert error.value.body["param"] == param


def test_logprobs_come_per_token_streamed_and_not(client):
    whole = client.chat.completions.create(model=LLAMA, messages=ASK, max_tokens=4, temperature=0, logprobs=True,
                                           top_logprobs=2)
    tokens = whole.choices[0].logprobs.content
    assert len(tokens) == whole.usage.completion_tokens and all(len(t.top_logprobs) == 2 for t in tokens)
    assert "".join(t.token for t in tokens) == whole.choices[0].message.content
    streamed = [t for chunk in client.chat.completions.create(model=LLAMA, messages=ASK, max_tokens=4, temperature=0,
                                                               logprobs=True, top_logprobs=2, stream=True)
                if chunk.choices and chunk.choices[0].logprobs for t in chunk.choices[0].logprobs.content]
    assert [(t.token, round(t.logprob, 4)) for t in streamed] == [(t.token, round(t.logprob, 4)) for t in tokens]


@pytest.mark.parametrize("model", [LLAMA, R1])
def test_a_json_schema_response_format_returns_valid_json(client, model):
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Invent a person."}], max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}})
    jsonschema.validate(json.loads(answer.choices[0].message.content), PERSON)


def test_a_reasoning_model_streams_its_thinking_before_its_answer(client):
    kinds = []
    for chunk in client.chat.completions.create(model=R1, messages=[{"role": "user", "content": "What is 2+2?"}],
                                                max_tokens=30, temperature=0, stream=True):
        delta = chunk.choices[0].delta.model_dump()
        kinds += [k for k in ("reasoning_content", "content") if delta.get(k)]
    assert kinds and kinds[0] == "reasoning_content"
    assert "reasoning_content" not in kinds[kinds.index("content"):] if "content" in kinds else True
    whole = client.chat.completions.create(model=R1, messages=[{"role": "user", "content": "What is 2+2?"}],
                                           max_tokens=30, temperature=0)
    assert "</think>" not in whole.choices[0].message.content
    assert whole.choices[0].message.model_extra["reasoning_content"]


def test_a_tool_call_round_trip_streamed_and_not(client):
    answer = client.chat.completions.create(model=LLAMA, messages=ASK, max_tokens=60, tools=[WEATHER],
                                            tool_choice="required")
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    follow_up = client.chat.completions.create(
        model=LLAMA, max_tokens=5, tools=[WEATHER],
        messages=[*ASK, choice.message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}])
    assert follow_up.choices[0].message.content
    chunks = list(client.chat.completions.create(model=LLAMA, messages=ASK, max_tokens=60, tools=[WEATHER], stream=True,
                                                 tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather" and json.loads(calls[0].function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_legacy_completions_take_a_prompt_list(client):
    answer = client.completions.create(model=LLAMA, prompt=["Once upon a time", "The cat"], max_tokens=3, logprobs=1)
    assert [c.index for c in answer.choices] == [0, 1] and answer.object == "text_completion"
    assert all(len(c.logprobs.tokens) == len(c.logprobs.token_logprobs) for c in answer.choices)


def test_embeddings_are_a_clear_404(client):
    with pytest.raises(openai.NotFoundError, match="Embeddings are not served"):
        client.embeddings.create(model=LLAMA, input="hello")


def test_langchain_binds_tools_and_gets_structured_output(server, server_key):
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, Field

    class Person(BaseModel):
        """A person."""

        name: str = Field(max_length=12)
        age: int = Field(ge=0, le=120)

    llm = ChatOpenAI(model=LLAMA, base_url=f"{server.url}/openai/v1", api_key=server_key, max_tokens=80,
                     max_retries=0)
    message = llm.bind_tools([WEATHER], tool_choice="get_weather").invoke("Weather in Paris?")
    assert message.tool_calls[0]["name"] == "get_weather"
    for method in ("json_schema", "function_calling"):
        person = llm.with_structured_output(Person, method=method).invoke("Invent a person.")
        assert isinstance(person, Person)


def test_litellm_completion_and_text_completion(server, server_key):
    import litellm

    common = {"model": f"openai/{LLAMA}", "api_base": f"{server.url}/openai/v1", "api_key": server_key,
              "max_tokens": 3}
    chat = litellm.completion(messages=ASK, **common)
    assert chat.choices[0].message.content
    text = litellm.text_completion(prompt="Once upon a time", **common)
    assert text.choices[0].text


def test_429_has_its_reason_phrase_in_the_status_line(tmp_path):
    """Some clients show the status line's phrase ("429 Unknown Status" once came from the server)."""
    import socket

    from tests.live_server import LiveServer

    server = LiveServer(tmp_path / "data", {"TIGER_RATE_LIMIT": "1/min", "TIGER_ENGINE": "off"}).start()
    try:
        key = server.create_key("limited")
        lines = []
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
                conn.sendall(f"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                             "Connection: close\r\n\r\n".encode())
                lines.append(conn.makefile("rb").readline().decode().strip())
        assert lines == ["HTTP/1.1 200 OK", "HTTP/1.1 429 Too Many Requests"]
    finally:
        server.stop()

