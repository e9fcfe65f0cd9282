"""What the API's own ASGI handler (tigercity/api_handler.py) must keep from Django's full chain: every
error the JSON error object without a traceback, the body limit, Host validation, and no cookie-based
access under /v1/ or /openai/. tests/tigercity/test_errors.py checks the same answers through the test
client, which runs the Playground's middleware chain instead of this handler."""
import httpx
import pytest
from asgiref.sync import sync_to_async
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = {"model": "llama-3.1-8b", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
async def app():
    """The deployment's routing of HTTP paths (tigercity/asgi.py; importing it reads the database)."""
    import importlib

    return (await sync_to_async(importlib.import_module)("tigercity.asgi")).http_app


def client(app, host: str = "localhost", **kwargs) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}", **kwargs)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.fixture
async def key(make_user, make_key):
    return await sync_to_async(make_key)(await sync_to_async(make_user)("alice"))


async def test_errors_through_the_api_handler_are_the_json_error_object(app, key, settings, monkeypatch):
    from inference import selectors

    settings.TIGER = {**settings.TIGER, "MAX_BODY_BYTES": 2048}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    auth = {"Authorization": f"Bearer {key}"}
    async with client(app, headers=auth) as http:
        assert error_of(await http.get("/v1/nope"), 404)["code"] == "not_found"
        assert error_of(await http.get("/openai/v1/nope"), 404)["code"] == "not_found"
        assert error_of(await http.delete("/v1/generate_response"), 405)["code"] == "method_not_allowed"
        bad_json = await http.post("/v1/generate_response", content=b"{bad", headers={"Content-Type": "application/json"})
        assert error_of(bad_json, 400)["code"] == "parse_error"
        big = {**HELLO, "messages": [{"role": "user", "content": "x" * 4096}]}
        for path in ("/v1/generate_response", "/openai/v1/chat/completions", "/v1/models"):
            assert error_of(await http.post(path, json=big), 413)["code"] == "body_too_large", path

        def boom(**kwargs):
            raise RuntimeError("secret internals")

        monkeypatch.setattr(selectors, "model_list", boom)
        failed = await http.get("/v1/models")
        assert error_of(failed, 500)["code"] == "internal_error" and "secret internals" not in failed.text
    async with client(app, host="evil.example", headers=auth) as http:
        assert error_of(await http.get("/v1/models"), 400)["code"] == "bad_request"  # ALLOWED_HOSTS


async def test_a_session_cookie_opens_nothing_under_the_api_prefixes(app, make_user):
    """The handler runs no session or CSRF middleware: nothing under /v1/ or /openai/ may take a cookie for a
    user (it would be reachable cross-site without a CSRF token), and no Playground page lives there."""
    alice = await sync_to_async(make_user)("alice")
    web = Client()
    await sync_to_async(web.force_login)(alice)
    cookies = {"sessionid": web.cookies["sessionid"].value, "csrftoken": "x" * 32}
    async with client(app, cookies=cookies) as http:
        assert error_of(await http.get("/v1/models"), 401)["type"] == "authentication_error"
        assert error_of(await http.post("/v1/generate_response", json=HELLO), 401)["type"] == "authentication_error"
        assert error_of(await http.post("/openai/v1/chat/completions", json=HELLO), 401)["type"] == "authentication_error"
        for page in ("/v1/keys/new/", "/v1/models/student/delete/", "/openai/keys/"):
            assert error_of(await http.post(page, data={"name": "x"}), 404)["code"] == "not_found", page
        docs = await http.get("/v1/docs")
    assert docs.status_code == 200 and "set-cookie" not in docs.headers  # public page, no session there
