"""The shared cache (Redis when REDIS_URL is set) stores JSON under the deployment's namespace: a value
planted in Redis is data at worst, never code, and two deployments keep their own rate-limit buckets."""
import os
import pickle
import uuid

import pytest

from tigercity.cache import cache_settings

REDIS_URL = os.environ.get("TIGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        if os.environ.get("TIGER_REQUIRE_SERVICES") or os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {e}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {e}")
    yield client
    client.close()


class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.mark.django_db
def test_a_value_planted_in_redis_never_runs_code_and_every_key_is_namespaced(api, settings, redis_client, tmp_path):
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = cache_settings(REDIS_URL, namespace)
    try:
        assert api.get("/v1/models").status_code == 200  # the rate limit records this request
        keys = redis_client.keys("*" + namespace + "*")
        assert keys and all(k.decode().startswith(namespace + ":") for k in keys)

        marker = tmp_path / "ran"
        for key in keys:
            redis_client.set(key, pickle.dumps(_Planted(str(marker))))
        assert api.get("/v1/models").status_code == 200
        assert not marker.exists(), "a value read from Redis ran code"
    finally:
        for key in redis_client.keys(namespace + ":*"):
            redis_client.delete(key)


def test_json_serializer_round_trips_what_the_server_stores():
    from tigercity.cache import JSONSerializer

    serializer = JSONSerializer()
    for value in (7, [1733000000.5, 1733000001.25], {"a": [1, "b"]}, "text"):
        assert serializer.loads(serializer.dumps(value)) == value
    assert serializer.loads(pickle.dumps(_Planted("/nonexistent"))) is None
