"""Generation pinned to a kept revision of a user model (`revision` on /v1/generate_response and on the
websocket), on the built-in demo weights: the engine loads that revision's adapter through its one adapter
cache, keyed by (model, revision), so the weights that answer are the ones named."""
import pytest

pytestmark = pytest.mark.django_db

CONTEXT = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture
def trained(api):
    api.post("/v1/models", {"name": "student", "parent_model": "llama-3.1-8b", "rank": 4})
    response = api.post("/v1/train", {"model": "student", "messages": CONTEXT, "learning_rate": 0.05,
                                      "learning_steps": 4, "responses": [{"content": "2 + 3 = 5.", "reward": 1.0},
                                                                         {"content": "2 + 3 = 9.", "reward": 0.0}]})
    assert response.json()["revision"] == 1
    return "student"


def answer(api, model, **body):
    response = api.post("/v1/generate_response", {"model": model, "messages": CONTEXT, "temperature": 0,
                                                  "max_tokens": 8, "logprobs": True, **body})
    assert response.status_code == 200, response.content
    body = response.json()
    choice = body["choices"][0]
    return body["revision"], choice["message"]["content"], [t["logprob"] for t in choice["logprobs"]["content"]]


def test_a_pinned_revision_answers_with_that_revisions_weights(api, trained):
    base = answer(api, "llama-3.1-8b")
    current = answer(api, trained)
    assert current[0] == 1 and current[2] != base[2]  # the training moved the weights
    pinned_old = answer(api, trained, revision=0)
    assert pinned_old == (0, base[1], base[2])  # revision 0 is the untouched copy of its base
    assert answer(api, trained, revision=1) == current


def test_a_revision_that_is_not_kept_a_base_model_and_a_bad_value_are_refused(api, bob_api, trained):
    missing = api.post("/v1/generate_response", {"model": trained, "messages": CONTEXT, "revision": 9})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "revision_not_found"
    base = api.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": CONTEXT, "revision": 0})
    assert base.status_code == 400 and base.json()["error"]["param"] == "revision"
    negative = api.post("/v1/generate_response", {"model": trained, "messages": CONTEXT, "revision": -1})
    assert negative.status_code == 400 and negative.json()["error"]["param"] == "revision"
    others = bob_api.post("/v1/generate_response", {"model": trained, "messages": CONTEXT, "revision": 0})
    assert others.status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_websocket_pins_a_revision_the_same_way(api, alice, trained):
    from channels.testing import WebsocketCommunicator

    from inference.consumers import ChatConsumer
    from tests.inference.test_websocket import receive_until

    socket = WebsocketCommunicator(ChatConsumer.as_asgi(), "/ws/chat/")
    socket.scope["user"] = alice
    assert (await socket.connect())[0]
    try:
        texts = {}
        for revision in (0, 1, None):
            request = {"type": "generate", "id": f"r{revision}", "model": trained, "messages": CONTEXT,
                       "temperature": 0, "max_tokens": 8}
            if revision is not None:
                request["revision"] = revision
            await socket.send_json_to(request)
            frames = await receive_until(socket, "done")
            assert frames[0]["type"] == "start" and frames[0]["revision"] == (1 if revision is None else revision)
            texts[revision] = "".join(f["text"] for f in frames if f["type"] == "delta")
        assert texts[None] == texts[1]
        await socket.send_json_to({"type": "generate", "id": "r9", "model": trained, "messages": CONTEXT, "revision": 9})
        refused = await socket.receive_json_from(timeout=30)
        assert refused["type"] == "error" and refused["error"]["code"] == "revision_not_found"
    finally:
        await socket.disconnect()
