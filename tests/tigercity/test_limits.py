"""Limits a user can hit, each with a clear error: rate, concurrency, body size, queue."""
import pytest
from django.core.cache import cache

from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(api, monkeypatch):
    from apikeys.throttling import KeyRateThrottle

    monkeypatch.setattr(KeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    assert [api.get("/v1/models").status_code for _ in range(3)] == [200, 200, 200]
    limited = api.get("/v1/models")
    async_limited = api.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO})
    for response in (limited, async_limited):
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        assert response.json()["error"]["type"] == "rate_limit_error"


def test_the_budget_is_per_user_whatever_the_number_of_keys(alice, bob, make_key, monkeypatch):
    from apikeys.throttling import KeyRateThrottle

    monkeypatch.setattr(KeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    first, second = ApiClient(make_key(alice, "one")), ApiClient(make_key(alice, "two"))
    assert [first.get("/v1/models").status_code for _ in range(2)] == [200, 200]
    assert second.get("/v1/models").status_code == 429  # a new key of the same user shares the budget
    assert ApiClient(make_key(bob)).get("/v1/models").status_code == 200


def test_too_many_concurrent_generations_of_one_user_is_429(alice, settings):
    from inference.admission import acquire_slot, running
    from tigercity.quotas import QuotaExceeded

    settings.TIGER = {**settings.TIGER, "MAX_CONCURRENT_GENERATIONS": 2}
    releases = [acquire_slot(alice.pk), acquire_slot(alice.pk)]
    with pytest.raises(QuotaExceeded) as caught:
        acquire_slot(alice.pk)
    assert (caught.value.status, caught.value.code) == (429, "too_many_concurrent_generations")
    assert caught.value.headers["Retry-After"] == "1"
    assert "TIGER_MAX_CONCURRENT_GENERATIONS is 2" in caught.value.message
    releases[0]()
    releases[0]()  # giving a slot back twice gives back one
    assert running(alice.pk) == 1
    releases.append(acquire_slot(alice.pk))
    for release in releases:
        release()
    assert running(alice.pk) == 0


def test_a_generation_over_the_concurrency_limit_is_refused_through_the_api(api, alice, settings):
    from inference.admission import acquire_slot

    settings.TIGER = {**settings.TIGER, "MAX_CONCURRENT_GENERATIONS": 1}
    release = acquire_slot(alice.pk)
    try:
        response = api.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO})
    finally:
        release()
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_concurrent_generations"
    assert api.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO,
                                              "max_tokens": 2}).status_code == 200


def test_a_body_over_the_limit_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    big = {"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "x" * 5000}]}
    for path in ("/v1/generate_response", "/v1/models"):
        response = api.post(path, big)
        assert response.status_code == 413, path
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_too_many_or_too_long_messages_are_400(api, settings):
    settings.TIGER = {**settings.TIGER, "MAX_MESSAGES": 3, "MAX_MESSAGE_CHARS": 10}
    many = api.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO * 4})
    assert many.status_code == 400 and "limit is 3" in many.json()["error"]["message"]
    long = api.post("/v1/generate_response", {"model": "llama-3.1-8b",
                                               "messages": [{"role": "user", "content": "y" * 11}]})
    assert long.status_code == 400 and "limit is 10" in long.json()["error"]["message"]


def test_a_full_queue_is_503_with_retry_after(api, monkeypatch):
    from inference.engine.errors import QueueFull
    from inference.runtime import get_runtime

    async def full(request):
        raise QueueFull(64, 64)

    monkeypatch.setattr(get_runtime(), "start_generation", full)
    response = api.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO})
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["type"] == "server_error"
