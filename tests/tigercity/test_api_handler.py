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


def spy_on_the_thread_connection(events: list) -> None:
    """Notes in events each check of the thread's connection (what close_old_connections calls) and
    each query on it."""
    from django.db import connection

    check = connection.close_if_unusable_or_obsolete

    def checked():
        events.append("check")
        check()

    def query(execute, sql, params, many, context):
        events.append("query")
        return execute(sql, params, many, context)

    connection.close_if_unusable_or_obsolete = checked
    connection.execute_wrappers.append(query)


@pytest.mark.django_db(transaction=True)
async def test_request_signals_run_on_the_request_thread_when_it_is_used_and_make_no_hop_otherwise(
        make_user, make_key):
    """close_old_connections still runs on the request's thread before the request's first query there
    (request_started) and after its view (request_finished); a request that runs nothing on its thread (a
    cached key, the base model) makes no hop to it: its connection is checked again before its next use."""
    from django.core import signals

    alice = await sync_to_async(make_user)("alice")
    key = await sync_to_async(make_key)(alice)
    auth = {"Authorization": f"Bearer {key}"}
    handler, used, finished, events = ApiHandler(), [], [], []
    give_back = handler._give_back

    def given_back(executor):
        used.append(executor.used)  # whether the request ran anything on its thread
        give_back(executor)

    handler._give_back = given_back

    def on_finished(**kwargs):
        finished.append(kwargs["sender"])

    signals.request_finished.connect(on_finished)  # a receiver of another kind: Django's own hop again
    try:
        async with client(handler) as http:
            assert (await http.get("/v1/models", headers=auth)).status_code == 200
    finally:
        signals.request_finished.disconnect(on_finished)
    assert finished == [ApiHandler] and used == [True]
    async with client(handler) as http:  # one request at a time: each reuses the one pooled thread
        async with handler.request_thread():
            await sync_to_async(spy_on_the_thread_connection)(events)
        assert (await http.get("/v1/models", headers=auth)).status_code == 200 and used[-1]
        assert events[0] == "check" and "query" in events and events[-1] == "check"
        events.clear()
        generated = await http.post("/v1/generate_response", headers=auth,
                                    json={"model": "llama-3.1-8b", "max_tokens": 1,
                                          "messages": [{"role": "user", "content": "Hello!"}]})
        assert generated.status_code == 200 and not used[-1] and events == []  # no hop at all
        assert (await http.get("/v1/models", headers=auth)).status_code == 200
        assert events[0] == "check" and "query" in events and events[-1] == "check"
        missing = await http.post("/v1/generate_response", headers=auth,
                                  json={"model": "no-such-model", "max_tokens": 1,
                                        "messages": [{"role": "user", "content": "Hello!"}]})
        assert missing.status_code == 404 and missing.json()["error"]["type"]


def test_the_request_start_runs_on_the_thread_once_before_its_first_task():
    import threading

    from tigercity.request_signals import RequestExecutor

    executor, ran = RequestExecutor(), []
    try:
        executor.lend(lambda: ran.append(("start", threading.get_ident())))
        first = executor.submit(lambda: ran.append(("task", threading.get_ident())))
        first.result()
        executor.submit(ran.append, ("second", threading.get_ident())).result()
        assert [r[0] for r in ran] == ["start", "task", "second"] and ran[0][1] == ran[1][1] != threading.get_ident()
        executor.lend()
        assert not executor.used
    finally:
        executor.shutdown()
