"""POST /v1/train, revision history, restore and export, on the built-in demo weights."""
import io
import zipfile

import pytest

pytestmark = pytest.mark.django_db

CONTEXT = [{"role": "user", "content": "What is 2 + 3?"}]
GOOD, BAD = "2 + 3 = 5.", "2 + 3 = 9."


@pytest.fixture
def model(api):
    api.post("/v1/models", {"name": "student", "parent_model": "llama-3.1-8b", "rank": 4})
    return "student"


def train(api, model="student", **body):
    payload = {"model": model, "messages": CONTEXT,
               "responses": [{"content": GOOD, "reward": 1.0}, {"content": BAD, "reward": 0.0}],
               "learning_rate": 0.01, "learning_steps": 2, **body}
    return api.post("/v1/train", payload)


def greedy(api, model, revision_note=""):
    body = api.post("/v1/generate_response", {"model": model, "messages": CONTEXT, "temperature": 0,
                                              "max_tokens": 16}).json()
    return body["revision"], body["choices"][0]["message"]["content"]


def test_training_bumps_the_revision_and_reports_its_metrics(api, model):
    response = train(api)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == "student" and body["revision"] == 1
    training = body["training"]
    assert set(training) == {"revision", "changed", "reason", "loss", "kl", "reward_mean", "reward_std",
                             "clip_fraction", "tokens", "steps", "duration_ms"}
    assert training["changed"] is True and training["revision"] == 1 and training["steps"] == 2
    assert training["reward_mean"] == 0.5 and training["tokens"] > 0


def test_training_a_user_model_never_changes_what_its_base_generates(api, model):
    before_base = greedy(api, "llama-3.1-8b")
    for _ in range(3):
        train(api, learning_rate=0.05, learning_steps=4)
    assert greedy(api, "llama-3.1-8b") == before_base
    assert greedy(api, "student")[0] == 3


def test_equal_rewards_teach_nothing_and_keep_the_revision(api, model):
    response = train(api, responses=[{"content": GOOD, "reward": 1}, {"content": BAD, "reward": 1}])
    assert response.status_code == 200
    body = response.json()
    assert body["revision"] == 0
    assert body["training"]["changed"] is False
    assert "equal" in body["training"]["reason"]


def test_a_single_thumbs_up_trains(api, model):
    response = train(api, responses=[{"content": GOOD, "reward": 1}])
    assert response.json()["training"]["changed"] is True


def test_examples_train_several_groups_in_one_update(api, model):
    example = {"messages": CONTEXT, "responses": [{"content": GOOD, "reward": 1}, {"content": BAD, "reward": -1}]}
    response = api.post("/v1/train", {"model": "student", "examples": [example, example], "learning_steps": 1})
    assert response.status_code == 200, response.content
    assert response.json()["revision"] == 1


def test_training_a_base_model_is_403(api):
    response = train(api, model="llama-3.1-8b")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_training_another_users_model_is_404(api, bob_api, model):
    assert train(bob_api).status_code == 404


@pytest.mark.parametrize(
    "body, param",
    [
        ({"responses": []}, "responses"),
        ({"responses": [{"content": "x"}]}, "responses[0].reward"),
        ({"responses": [{"content": "x", "reward": "good"}]}, "responses[0].reward"),
        ({"responses": [{"content": "x", "reward": 1}] * 33}, "responses"),
        ({"learning_steps": 0}, "learning_steps"),
        ({"learning_steps": 101}, "learning_steps"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"beta": -0.1}, "beta"),
        ({"epsilon": 1.5}, "epsilon"),
        ({"messages": []}, "messages"),
        ({"examples": [], "messages": None}, "examples"),
    ],
)
def test_each_invalid_train_field_is_a_400_naming_it(api, model, body, param):
    payload = {"model": "student", "messages": CONTEXT, "responses": [{"content": GOOD, "reward": 1}], **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    if "examples" in body:
        payload.pop("messages", None)
        payload.pop("responses", None)
    response = api.post("/v1/train", payload)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param


def test_infinite_or_nan_rewards_are_rejected(api, model):
    raw = '{"model": "student", "messages": [{"role": "user", "content": "x"}], "responses": [{"content": "y", "reward": %s}]}'
    for value in ("NaN", "Infinity", "-Infinity", "1e999"):
        response = api.post("/v1/train", raw=raw % value)
        assert response.status_code == 400, value


def test_revisions_list_history_and_restore_makes_a_new_revision_equal_to_the_old(api, model):
    base_answer = greedy(api, "student")[1]
    train(api, learning_rate=0.05, learning_steps=4)
    history = api.get("/v1/models/student/revisions").json()
    assert [h["revision"] for h in history] == [0, 1]
    assert history[0]["training"] is None and history[1]["training"]["changed"] is True
    restored = api.post("/v1/models/student/revisions/0/restore")
    assert restored.status_code == 200
    assert restored.json()["revision"] == 2
    assert greedy(api, "student") == (2, base_answer)
    assert api.get("/v1/models/student/revisions").json()[-1]["restored_from"] == 0
    assert api.post("/v1/models/student/revisions/9/restore").status_code == 404


def test_the_exported_adapter_loads_with_peft_on_the_base_checkpoint(api, model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from inference.catalog import base_model

    train(api, learning_rate=0.05)
    response = api.get("/v1/models/student/adapter?revision=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["adapter_config.json", "adapter_model.safetensors"]
    archive.extractall(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(base_model("Llama-3.1-8b").checkpoint, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, tmp_path / "adapter")
    lora = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert lora and any(p.abs().sum() > 0 for p in lora)


def test_revision_0_exports_too(api, model):
    response = api.get("/v1/models/student/adapter")
    assert response.status_code == 200
    assert b"adapter_config.json" in b"".join(response.streaming_content)


def test_deleting_a_model_deletes_its_weights(api, model, settings, django_capture_on_commit_callbacks):
    train(api)
    model_dirs = list((settings.DATA_DIR / "adapters").iterdir())
    assert model_dirs
    with django_capture_on_commit_callbacks(execute=True):
        api.delete("/v1/models/student")
    assert not any(d.exists() for d in model_dirs)


def test_a_copy_of_a_trained_model_is_independent(api, model):
    train(api, learning_rate=0.05, learning_steps=4)
    api.post("/v1/models", {"name": "twin", "parent_model": "student"})
    assert greedy(api, "twin")[1] == greedy(api, "student")[1]
    train(api, model="twin", learning_rate=0.05, learning_steps=4)
    assert api.get("/v1/models/student").json()["revision"] == 1
    assert api.get("/v1/models/twin").json()["revision"] == 1
