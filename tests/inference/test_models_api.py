import re

import pytest

pytestmark = pytest.mark.django_db

DOCUMENTED_KEYS = {
    "name", "id", "description", "read_only", "parent_model", "revision", "last_modified", "default_model",
    "temperature", "top_p", "learning_rate", "learning_steps", "beta", "epsilon",
    "rank", "alpha", "dropout", "target_modules",
}
BASE_KEYS = DOCUMENTED_KEYS - {"parent_model", "rank", "alpha", "dropout", "target_modules"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def create(api, **body):
    body = {"name": "MyCustomModel", "parent_model": "Llama-3.1-8b", **body}
    return api.post("/v1/models", body)


def test_the_documented_create_example_answers_201_with_exactly_the_documented_keys(api):
    response = api.post("/v1/models", {
        "name": "MyCustomModel", "description": "My fine-tuned model", "parent_model": "Llama-3.1-8b",
        "rank": 16, "alpha": 32, "dropout": 0.1, "learning_rate": 0.00001,
    })
    assert response.status_code == 201, response.content
    info = response.json()
    assert set(info) == DOCUMENTED_KEYS
    assert info["id"] == "mycustommodel"
    assert info["name"] == "MyCustomModel"
    assert info["parent_model"] == "Llama-3.1-8b"
    assert info["read_only"] is False and info["default_model"] is False
    assert info["revision"] == 0
    assert (info["rank"], info["alpha"], info["dropout"], info["learning_rate"]) == (16, 32, 0.1, 0.00001)
    assert (info["beta"], info["epsilon"], info["learning_steps"]) == (0.8, 0.2, 5)
    assert (info["temperature"], info["top_p"], info["target_modules"]) == (0.7, 0.95, "qkvo_ffn")
    assert ISO_MS.match(info["last_modified"])


def test_the_base_models_are_listed_first_read_only_with_the_contract_defaults(api):
    models = api.get("/v1/models").json()
    llama, deepseek = models[0], models[1]
    assert llama["name"] == "Llama-3.1-8b" and llama["id"] == "llama-3.1-8b"
    assert llama["description"].startswith("Multilingual large language model from Meta")
    assert deepseek["id"] == "deepseek-r1-8b" and deepseek["default_model"] is True
    assert deepseek["description"].startswith("LLM for advanced reasoning, math, and code tasks.")
    for base in (llama, deepseek):
        assert set(base) == BASE_KEYS
        assert base["read_only"] is True and base["revision"] == 0
        assert (base["beta"], base["epsilon"], base["learning_rate"]) == (0.04, 0.2, 0.00001)
        assert (base["learning_steps"], base["temperature"], base["top_p"]) == (5, 0.7, 0.95)
        assert ISO_MS.match(base["last_modified"])
    assert llama["default_model"] is False


def test_demo_weights_are_named_in_the_description(api):
    llama = api.get("/v1/models/llama-3.1-8b").json()
    assert "demo weights" in llama["description"]
    assert "TIGER_BASE_MODELS" in llama["description"]


def test_a_created_model_is_listed_after_the_base_models_and_readable_by_name_or_id(api):
    create(api)
    assert [m["id"] for m in api.get("/v1/models").json()] == ["llama-3.1-8b", "deepseek-r1-8b", "mycustommodel"]
    assert api.get("/v1/models/mycustommodel").json()["name"] == "MyCustomModel"
    assert api.get("/v1/models/MyCustomModel").status_code == 200


def test_spaces_in_a_name_become_dashes_in_the_id(api):
    assert create(api, name="My Model 2").json()["id"] == "my-model-2"


def test_post_works_with_and_without_a_trailing_slash(api):
    assert api.post("/v1/models/", {"name": "a", "parent_model": "llama-3.1-8b"}).status_code == 201
    assert api.post("/v1/models", {"name": "b", "parent_model": "llama-3.1-8b"}).status_code == 201
    assert api.get("/v1/models/a/").status_code == 200
    assert api.patch("/v1/models/a/", {"description": "x"}).status_code == 200
    assert api.delete("/v1/models/b/").status_code == 200


def test_a_duplicate_name_or_id_in_the_account_is_409(api):
    assert create(api).status_code == 201
    for name in ("MyCustomModel", "mycustommodel", "MYCUSTOMMODEL"):
        response = create(api, name=name)
        assert response.status_code == 409
        assert response.json()["error"]["type"] == "conflict_error"
    assert create(api, name="llama-3.1-8b").status_code == 409


def test_two_users_may_use_the_same_name(api, bob_api):
    assert create(api).status_code == 201
    assert create(bob_api).status_code == 201


def test_an_unknown_parent_is_404(api):
    response = create(api, parent_model="gpt-17")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "parent_model"


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", ""),
        ("name", "x" * 65),
        ("name", "../etc/passwd"),
        ("name", "a/b"),
        ("name", 5),
        ("rank", 0),
        ("rank", 257),
        ("rank", 1.5),
        ("alpha", -1),
        ("dropout", -0.1),
        ("dropout", 0.95),
        ("learning_rate", 0),
        ("learning_rate", 1.5),
        ("target_modules", "all"),
        ("description", "d" * 2001),
        ("colour", "red"),
    ],
)
def test_each_invalid_create_field_is_a_400_naming_the_field(api, field, value):
    response = create(api, **{field: value})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field
    assert field in error["message"]


def test_name_and_parent_are_required(api):
    for missing in ("name", "parent_model"):
        body = {"name": "m", "parent_model": "llama-3.1-8b"}
        del body[missing]
        response = api.post("/v1/models", body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == missing


def test_a_copy_of_a_user_model_copies_its_defaults_and_lora_shape(api):
    create(api, name="parent", rank=8, alpha=4, target_modules="qv")
    api.patch("/v1/models/parent", {"temperature": 0.3, "beta": 0.1, "learning_steps": 9})
    child = create(api, name="child", parent_model="parent").json()
    assert child["parent_model"] == "parent"
    assert (child["rank"], child["alpha"], child["target_modules"]) == (8, 4, "qv")
    assert (child["temperature"], child["beta"], child["learning_steps"]) == (0.3, 0.1, 9)


@pytest.mark.parametrize("field, value", [("rank", 4), ("alpha", 16), ("target_modules", "qkvo")])
def test_lora_settings_that_contradict_a_user_model_parent_are_400(api, field, value):
    create(api, name="parent", rank=8, alpha=8, target_modules="qv")
    response = create(api, name="child", parent_model="parent", **{field: value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field


def test_patch_changes_description_and_defaults(api):
    create(api)
    response = api.patch("/v1/models/mycustommodel", {"description": "new", "temperature": 1.2, "epsilon": 0.3})
    assert response.status_code == 200
    info = api.get("/v1/models/mycustommodel").json()
    assert (info["description"], info["temperature"], info["epsilon"]) == ("new", 1.2, 0.3)


@pytest.mark.parametrize("body", [{"temperature": 3}, {"top_p": 0}, {"learning_steps": 0}, {"name": "x"},
                                  {"epsilon": 2}, {"beta": -1}])
def test_patch_rejects_invalid_or_unchangeable_fields(api, body):
    create(api)
    response = api.patch("/v1/models/mycustommodel", body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == next(iter(body))


def test_base_models_are_read_only(api):
    assert api.patch("/v1/models/llama-3.1-8b", {"description": "x"}).status_code == 403
    response = api.delete("/v1/models/deepseek-r1-8b")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_delete_removes_the_model(api):
    create(api)
    response = api.delete("/v1/models/mycustommodel")
    assert response.json() == {"id": "mycustommodel", "deleted": True}
    assert api.get("/v1/models/mycustommodel").status_code == 404


def test_another_users_model_is_invisible_and_untouchable(api, bob_api):
    create(api, name="secret")
    assert [m["id"] for m in bob_api.get("/v1/models").json()] == ["llama-3.1-8b", "deepseek-r1-8b"]
    for response in (
        bob_api.get("/v1/models/secret"),
        bob_api.patch("/v1/models/secret", {"description": "pwned"}),
        bob_api.delete("/v1/models/secret"),
        bob_api.post("/v1/models", {"name": "copy", "parent_model": "secret"}),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
    nowhere = bob_api.get("/v1/models/does-not-exist").json()
    hidden = bob_api.get("/v1/models/secret").json()
    assert nowhere["error"]["code"] == hidden["error"]["code"]
    assert api.get("/v1/models/secret").json()["description"] == ""
