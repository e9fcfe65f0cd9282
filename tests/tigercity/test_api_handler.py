"""The API's ASGI handler (tigercity/api_handler.py): Django's, with only the middlewares that shape an API
answer, run inline. The live-server tests go through it end to end (tigercity/asgi.py routes /v1/ and
/openai/ to it); these check what it keeps and what it leaves out."""
import httpx
import pytest
from asgiref.sync import sync_to_async

from tigercity.api_handler import ApiHandler, is_api_path


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def test_api_answers_carry_the_security_headers_and_no_cookies():
    async with client(ApiHandler()) as http:
        response = await http.get("/v1/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "set-cookie" not in response.headers  # no session, no CSRF cookie: the API has no use for them


async def test_the_https_redirect_applies_to_the_api(settings):
    settings.SECURE_SSL_REDIRECT = True
    async with client(ApiHandler()) as http:
        response = await http.get("/v1/health")
    assert response.status_code == 301 and response.headers["Location"] == "https://localhost/v1/health"


async def test_an_error_raised_by_a_middleware_hook_is_an_answer_not_a_crash(settings):
    import re

    settings.DISALLOWED_USER_AGENTS = [re.compile("bad-bot")]
    async with client(ApiHandler()) as http:
        response = await http.get("/v1/health", headers={"User-Agent": "bad-bot"})
    assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_a_key_is_checked_and_views_answer_through_the_handler(make_user, make_key):
    alice = await sync_to_async(make_user)("alice")
    key = await sync_to_async(make_key)(alice)
    handler = ApiHandler()
    async with client(handler) as http:
        for _ in range(2):  # the second from the key cache
            models = await http.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
            assert models.status_code == 200 and models.json()[0]["id"] == "llama-3.1-8b"
        generated = await http.post("/v1/generate_response", headers={"Authorization": f"Bearer {key}"},
                                    json={"model": "llama-3.1-8b", "max_tokens": 2,
                                          "messages": [{"role": "user", "content": "Hello!"}]})
        refused = await http.get("/v1/models", headers={"Authorization": "Bearer " + "tc-" + "x" * 43})
    assert generated.status_code == 200 and generated.json()["usage"]["completion_tokens"] >= 1
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"


async def test_requests_reuse_a_pooled_thread_and_a_task_outliving_its_request_still_runs_sync_code():
    """A training is a task shielded from a client that leaves: its commit (a sync call) runs after the
    request is over, so the request's end must not take the sync thread away from it."""
    import asyncio
    import threading

    handler = ApiHandler()
    released, threads = asyncio.Event(), []

    async def outliving():
        await released.wait()
        return await sync_to_async(threading.get_ident)()

    async with handler.request_thread():
        threads.append(await sync_to_async(threading.get_ident)())
        task = asyncio.ensure_future(outliving())
    async with handler.request_thread():
        threads.append(await sync_to_async(threading.get_ident)())
    released.set()
    assert threads[0] == threads[1] != threading.get_ident()  # the second request reused the first's thread
    assert isinstance(await task, int)


def test_api_paths():
    assert all(is_api_path(p) for p in ("/v1/models", "/v1", "/openai/v1/chat/completions", "/openai"))
    assert not any(is_api_path(p) for p in ("/", "/login/", "/v1x", "/static/playground/app.js", "/ws/chat/"))
