import pytest

pytestmark = pytest.mark.django_db


def assert_error_object(response, status, type_):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == type_
    assert error["message"]
    assert "Traceback" not in response.content.decode()


def test_an_unknown_v1_path_is_a_json_404(api):
    assert_error_object(api.get("/v1/nope"), 404, "not_found_error")


def test_a_wrong_method_is_a_json_405(api):
    assert_error_object(api.client.put("/v1/models", "{}", content_type="application/json",
                                       headers=api._headers(None)), 405, "invalid_request_error")


def test_malformed_json_is_a_400(api):
    assert_error_object(api.post("/v1/models", raw="{not json"), 400, "invalid_request_error")


def test_nan_in_json_is_a_400(api):
    assert_error_object(api.post("/v1/models", raw='{"name": "a", "parent_model": "llama-3.1-8b", "alpha": NaN}'),
                        400, "invalid_request_error")


def test_a_body_that_is_not_an_object_is_a_400(api):
    assert_error_object(api.post("/v1/models", raw="[1, 2]"), 400, "invalid_request_error")


def test_a_wrong_content_type_is_a_415(api):
    assert_error_object(api.post("/v1/models", raw="name=a", content_type="application/x-www-form-urlencoded"),
                        415, "invalid_request_error")


def test_an_unexpected_exception_is_a_json_500_without_a_traceback(api, monkeypatch):
    from inference import selectors

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "model_list", boom)
    response = api.get("/v1/models")
    assert_error_object(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()


def test_the_openapi_schema_and_docs_are_served(anon_api):
    schema = anon_api.get("/v1/openapi.json")
    assert schema.status_code == 200
    assert "/v1/models" in schema.json()["paths"]
    docs = anon_api.get("/v1/docs")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


@pytest.fixture
def redis_unreachable(settings):
    """The deployment's shared cache on a Redis that refuses connections (a port nothing listens on)."""
    import socket

    from tigercity.cache import cache_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CACHES = cache_settings(f"redis://127.0.0.1:{port}/0", "tigercity-test")
    settings.TIGER = {**settings.TIGER, "KEY_CACHE": True}


def test_an_unreachable_redis_is_a_503_that_says_so_and_no_key_is_accepted(api, redis_unreachable):
    """The key generation cannot be read: no key is trusted (not even a cached one), and the client is
    told what is wrong rather than 'an unexpected error'."""
    for response in (api.get("/v1/models"),
                     api.post("/v1/generate_response", {"model": "llama-3.1-8b", "max_tokens": 1,
                                                        "messages": [{"role": "user", "content": "Hi"}]})):
        assert_error_object(response, 503, "server_error")
        assert response.json()["error"]["code"] == "shared_cache_unavailable" and response["Retry-After"]
