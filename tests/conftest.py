"""Shared fixtures. Django imports stay inside fixtures so tests/inference/engine runs without Django (-p no:django)."""
import shutil

import pytest


@pytest.fixture(scope="session")
def _session_data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _data_dir(request):
    """Each Django test starts with an empty data directory. It is one path for the whole session: the
    engine, built once, only accepts adapter paths under the data directory it was built with."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    settings = request.getfixturevalue("settings")
    data_dir = request.getfixturevalue("_session_data_dir")
    for entry in data_dir.iterdir():
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    settings.DATA_DIR = data_dir
    from django.core.cache import cache

    cache.clear()  # rate-limit histories and sign-in counters start afresh
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    """Django hashes a password with PBKDF2 at production cost (about half a second on a CI core) and most
    tests make users or sign in: tests hash with MD5 instead (the settings fixture, never production)."""
    if request.config.pluginmanager.hasplugin("django"):
        request.getfixturevalue("settings").PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _key_uses_written_by_the_test(request):
    """A server writes API keys' last use from a thread of its own (apikeys/last_used.py); in tests nothing
    writes behind the test's back: a test that checks last_used_at calls recorder.flush(), and what a
    test noted but did not write is dropped at its end."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from apikeys.last_used import recorder

    recorder.background = False
    yield
    recorder.forget()


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username="alice"):
        return get_user_model().objects.create_user(username=username, password="a-long-pass-phrase-42")

    return make


@pytest.fixture
def make_key(db):
    from apikeys.services import api_key_create

    def make(user, name="test key"):
        return api_key_create(owner=user, name=name).secret

    return make


class ApiClient:
    """A Django test client that speaks JSON with a Bearer key."""

    def __init__(self, key: str | None):
        from django.test import Client

        self.client = Client()
        self.key = key

    def _headers(self, headers):
        out = dict(headers or {})
        if self.key:
            out.setdefault("Authorization", f"Bearer {self.key}")
        return out

    def get(self, path, headers=None):
        return self.client.get(path, headers=self._headers(headers))

    def delete(self, path, headers=None):
        return self.client.delete(path, headers=self._headers(headers))

    def post(self, path, data=None, headers=None, raw=None, content_type="application/json"):
        import json

        body = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(path, body, content_type=content_type, headers=self._headers(headers))

    def patch(self, path, data=None, headers=None):
        import json

        return self.client.patch(path, json.dumps(data), content_type="application/json",
                                 headers=self._headers(headers))


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def api(alice, make_key):
    """Alice's API client."""
    return ApiClient(make_key(alice))


@pytest.fixture
def bob_api(bob, make_key):
    return ApiClient(make_key(bob))


@pytest.fixture
def anon_api(db):
    return ApiClient(None)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A live server shared by the tests of a session (see tests/live_server.py)."""
    from tests.live_server import LiveServer

    # Load and concurrency tests send more than a key's default rate limit allows.
    live = LiveServer(tmp_path_factory.mktemp("live"),
                      {"TIGER_MAX_CONCURRENT_GENERATIONS": "32", "TIGER_RATE_LIMIT": "off"}).start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def server_key(server):
    return server.create_key("live-alice")


@pytest.fixture(scope="session", autouse=True)
def _stop_the_engine_at_the_end():
    """Stop the in-process engine's threads before the interpreter exits (torch aborts otherwise)."""
    yield
    import sys

    runtime = sys.modules.get("inference.runtime")
    if runtime is not None and runtime._runtime is not None:
        runtime._runtime.shutdown()
