"""POST /v1/generate_response through Django's test client, on the built-in demo weights."""
import pytest

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Hello!"}]


def generate(api, **body):
    return api.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO, "max_tokens": 24, **body})


def test_a_generation_answers_with_the_documented_shape(api):
    response = generate(api, temperature=0)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"id", "model", "revision", "created", "choices", "usage"}
    assert body["model"] == "llama-3.1-8b" and body["revision"] == 0
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_a_revision_0_copy_generates_exactly_what_its_parent_generates(api):
    api.post("/v1/models", {"name": "copy", "parent_model": "llama-3.1-8b"})
    api.post("/v1/models", {"name": "copy2", "parent_model": "copy"})
    texts = [generate(api, model=m, temperature=0).json()["choices"][0]["message"]["content"]
             for m in ("llama-3.1-8b", "copy", "copy2")]
    assert texts[0] == texts[1] == texts[2]


def test_n_candidates_and_a_seed_make_reproducible_samples(api):
    first = generate(api, n=3, temperature=1.0, seed=7).json()
    again = generate(api, n=3, temperature=1.0, seed=7).json()
    assert [c["index"] for c in first["choices"]] == [0, 1, 2]
    assert [c["message"] for c in first["choices"]] == [c["message"] for c in again["choices"]]


def test_max_tokens_ends_with_finish_reason_length(api):
    body = generate(api, max_tokens=1, temperature=0).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 1


def test_a_prompt_longer_than_the_context_is_a_400_with_both_numbers(api):
    long = [{"role": "user", "content": "the cat sat on the mat " * 2000}]
    response = generate(api, messages=long)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    numbers = [int(w) for w in error["message"].replace(",", " ").split() if w.isdigit()]
    assert len(numbers) >= 2 and numbers[0] > numbers[1]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": "hello"}, "messages"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 17}, "n"),
        ({"n": 0}, "n"),
        ({"stop": "x"}, "stop"),
        ({"seed": -1}, "seed"),
        ({"stream": "yes"}, "stream"),
        ({"model": 3}, "model"),
        ({"frobnicate": True}, "frobnicate"),
    ],
)
def test_each_invalid_field_is_a_400_naming_it(api, body, param):
    response = generate(api, **body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param


def test_an_unknown_model_is_404(api):
    response = generate(api, model="nope")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"


def test_another_users_model_cannot_be_used(api, bob_api):
    api.post("/v1/models", {"name": "mine", "parent_model": "llama-3.1-8b"})
    assert generate(bob_api, model="mine").status_code == 404


def test_a_missing_key_is_401(anon_api):
    assert generate(anon_api).status_code == 401
