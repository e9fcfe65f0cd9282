"""A table of malformed requests: each gets a 4xx with the error object, and the server keeps serving."""
import json

import pytest

pytestmark = pytest.mark.django_db

MSG = [{"role": "user", "content": "hi"}]
GEN = {"model": "llama-3.1-8b", "messages": MSG, "max_tokens": 2}
TRAIN = {"model": "student", "messages": MSG, "responses": [{"content": "a", "reward": 1}]}
MODEL = {"name": "m", "parent_model": "llama-3.1-8b"}


def body(base, **changes):
    return json.dumps({**base, **changes})


CASES = [
    # (method, path, raw body, content type, expected status)
    ("POST", "/v1/generate_response", " ", "application/json", 400),
    ("POST", "/v1/generate_response", "{", "application/json", 400),
    ("POST", "/v1/generate_response", "null", "application/json", 400),
    ("POST", "/v1/generate_response", "[]", "application/json", 400),
    ("POST", "/v1/generate_response", '"text"', "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN), "text/plain", 415),
    ("POST", "/v1/generate_response", "model=x", "application/x-www-form-urlencoded", 415),
    ("POST", "/v1/generate_response", body(GEN, messages=[]), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, messages=None), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, messages=[{}]), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, messages=[{"role": "tool", "content": "x"}]), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, messages=[{"role": "user", "content": ["x"]}]), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, messages=[{"role": "user", "content": "x", "name": "n"}]),
     "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, messages=["hi"]), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, temperature=-0.1), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, temperature=1e308 * 10), "application/json", 400),
    ("POST", "/v1/generate_response", '{"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "x"}], '
                                      '"temperature": NaN}', "application/json", 400),
    ("POST", "/v1/generate_response", '{"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "x"}], '
                                      '"top_p": Infinity}', "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, top_p=True), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, max_tokens=10**30), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, max_tokens=2.5), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, max_tokens="5"), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, n=1000), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, stop=["x"] * 100), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, stop=[""]), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, stop=[5]), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, seed=2**70), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, seed="x"), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, model=""), "application/json", 400),
    ("POST", "/v1/generate_response", body(GEN, model="../../etc/passwd"), "application/json", 404),
    ("POST", "/v1/generate_response", body(GEN, model="\u202e\u0000"), "application/json", 400),
    ("POST", "/v1/generate_response", b'{"model": "\xff\xfe"}', "application/json", 400),
    ("GET", "/v1/generate_response", None, None, 405),
    ("POST", "/v1/train", body(TRAIN, responses=[{"content": "a", "reward": None}]), "application/json", 400),
    ("POST", "/v1/train", body(TRAIN, responses=[{"content": "a", "reward": 1e400}]), "application/json", 400),
    ("POST", "/v1/train", '{"model": "student", "messages": [{"role": "user", "content": "x"}], '
                          '"responses": [{"content": "a", "reward": -Infinity}]}', "application/json", 400),
    ("POST", "/v1/train", body(TRAIN, responses=[{"content": "a", "reward": [1]}]), "application/json", 400),
    ("POST", "/v1/train", body(TRAIN, responses="good"), "application/json", 400),
    ("POST", "/v1/train", body(TRAIN, examples=[]), "application/json", 400),
    ("POST", "/v1/train", body({"model": "student", "examples": [{"messages": MSG}]}), "application/json", 400),
    ("POST", "/v1/train", body({"model": "student", "examples": [{}] * 65}), "application/json", 400),
    ("POST", "/v1/train", body(TRAIN, learning_rate=-1), "application/json", 400),
    ("POST", "/v1/train", body(TRAIN, learning_steps=10**9), "application/json", 400),
    ("POST", "/v1/train", body(TRAIN, model="llama-3.1-8b"), "application/json", 403),
    ("POST", "/v1/models", body(MODEL, name="a" * 1000), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, name="\u0000"), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, name="名前"), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, name=" "), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, name=["m"]), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, rank=10**20), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, dropout="0.1"), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, parent_model={"name": "x"}), "application/json", 400),
    ("POST", "/v1/models", body(MODEL, target_modules=None), "application/json", 400),
    ("PATCH", "/v1/models/student", body({"temperature": "warm"}), "application/json", 400),
    ("PATCH", "/v1/models/student", "[1]", "application/json", 400),
    ("DELETE", "/v1/models/%2e%2e%2f%2e%2e", None, None, 404),
    ("GET", "/v1/models/student/adapter?revision=-1", None, None, 400),
    ("GET", "/v1/models/student/adapter?revision=abc", None, None, 400),
    ("GET", "/v1/models/student/adapter?revision=99", None, None, 404),
    ("POST", "/v1/models/student/revisions/99/restore", None, None, 404),
    ("GET", "/v1/models/student/adapter?revision=%C2%B2", None, None, 400),  # "²": isdigit, but not int()
    ("GET", "/v1/models/student/adapter?revision=%E2%91%A0", None, None, 400),  # "①"
    ("GET", "/v1/models/student/adapter?revision=%D9%A0", None, None, 400),  # Arabic-Indic zero
    ("POST", "/v1/generate_response", "[" * 50_000, "application/json", 400),  # nested past Python's limit
    ("POST", "/v1/models", "[" * 50_000, "application/json", 400),
    ("POST", "/v1/train", '{"model": "student", "examples": ' + "[" * 50_000, "application/json", 400),
    ("GET", "/v1/unknown", None, None, 404),
    ("PUT", "/v1/models", "{}", "application/json", 405),
]


@pytest.mark.parametrize("method, path, raw, content_type, status", CASES,
                         ids=[f"{i:02d}-{c[0]}-{c[1].split('/')[2][:12]}" for i, c in enumerate(CASES)])
def test_a_malformed_request_gets_a_4xx_error_object_and_the_server_keeps_serving(api, method, path, raw,
                                                                                  content_type, status):
    api.post("/v1/models", {"name": "student", "parent_model": "llama-3.1-8b"})
    kwargs = {"headers": api._headers(None)}
    if raw is not None:
        kwargs.update(data=raw, content_type=content_type)
    response = getattr(api.client, method.lower())(path, **kwargs)
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"] and error["type"] != "server_error"
    assert api.get("/v1/models").status_code == 200


def test_a_host_that_is_not_allowed_gets_the_error_object(anon_api):
    for path in ("/v1/health", "/v1/models", "/openai/v1/models"):
        response = anon_api.client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 400, path
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_an_export_names_its_file_with_the_revision_number(api):
    api.post("/v1/models", {"name": "student", "parent_model": "llama-3.1-8b"})
    response = api.get("/v1/models/student/adapter?revision=0")
    assert response["Content-Disposition"] == 'attachment; filename="student-rev0.zip"'


def test_the_table_is_large_enough():
    assert len(CASES) >= 40
