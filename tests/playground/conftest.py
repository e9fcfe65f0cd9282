"""Fixtures of the Playground's view tests: signed-in clients, and the chat's token count without an engine."""
import pytest


@pytest.fixture
def web(alice):
    from django.test import Client

    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_web(bob):
    from django.test import Client

    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture(autouse=True)
def counting(request, monkeypatch):
    """The chat counts a message's tokens before saving it: a token per word here (FakeRuntime), so view
    tests need no engine. Browser tests run their own server, which this does not reach."""
    if not request.config.pluginmanager.hasplugin("django"):
        return None
    from tests.fakes import FakeRuntime

    fake = FakeRuntime()
    monkeypatch.setattr("playground.prompt_tokens.get_runtime", lambda: fake)
    return fake
