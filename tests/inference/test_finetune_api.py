"""/v1/fine_tuning/jobs on the real engine (demo weights): a job's lifecycle, its revision, cancel,
limits, validation, privacy. Jobs run on the runner's threads, so these tests commit their data."""
import io
import json
import time

import pytest
from django.test import Client

from inference.models import FineTuneJob

pytestmark = pytest.mark.django_db(transaction=True)

QA = [("Name a colour.", "Teal, like the sea."), ("What is 2 + 3?", "2 + 3 = 5."), ("Say hi.", "Hi there, friend!"),
      ("Capital of France?", "Paris."), ("Is the sky blue?", "Yes, on a clear day."), ("Name a fruit.", "A mango.")]
SFT = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in QA]
PREF = [{"input": {"messages": [{"role": "user", "content": q}]}, "preferred_output": [{"role": "assistant", "content": a}],
         "non_preferred_output": [{"role": "assistant", "content": "I do not know."}]} for q, a in QA]


def upload(api, rows) -> str:
    f = io.BytesIO("\n".join(json.dumps(r) for r in rows).encode())
    f.name = "d.jsonl"
    r = Client().post("/v1/files", {"file": f, "purpose": "fine-tune"}, headers={"Authorization": f"Bearer {api.key}"})
    assert r.status_code == 200, r.content
    return r.json()["id"]


def wait_final(job_id: str, timeout: float = 120) -> FineTuneJob:
    """Wait for the job's row to reach a final status: through the runner's own signal while it runs,
    and while it is queued behind another job, through that job's."""
    from inference import finetune_runner

    job = FineTuneJob.objects.get(pk=job_id)
    for _ in range(600):
        if job.status in FineTuneJob.FINAL:
            return job
        running = FineTuneJob.objects.filter(status="running").values_list("id", flat=True).first()
        if running is None or not finetune_runner.wait_running(running, timeout):
            time.sleep(0.1)  # between two jobs: the next one is being claimed
        job.refresh_from_db()
    raise AssertionError(f"job {job_id} is still {job.status}")


@pytest.fixture
def model(api):
    assert api.post("/v1/models", {"name": "ft", "parent_model": "llama-3.1-8b"}).status_code == 201
    return "ft"


def test_a_supervised_job_moves_the_model_to_its_next_revision(api, model):
    train = upload(api, SFT)
    r = api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": train, "seed": 7,
                                          "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}})
    assert r.status_code == 200, r.content
    job = r.json()
    assert job["object"] == "fine_tuning.job" and job["status"] == "queued" and job["seed"] == 7
    hyper = job["method"]["supervised"]["hyperparameters"]
    assert hyper["n_epochs"] == 2 and hyper["batch_size"] >= 1 and hyper["learning_rate_multiplier"] > 0  # auto resolved
    done = wait_final(job["id"])
    assert done.status == "succeeded", done.error
    info = api.get(f"/openai/v1/fine_tuning/jobs/{job['id']}").json()
    assert info["result_revision"] == 1 and info["fine_tuned_model"] == "ft" and info["trained_tokens"] > 0
    assert info["step"] == info["total_steps"] > 0 and "valid_loss" in info["metrics"]
    assert api.get("/v1/models/ft").json()["revision"] == 1
    history = api.get("/v1/models/ft/revisions").json()
    assert history[-1]["training"]["kind"] == "supervised" and history[-1]["training"]["job"] == job["id"]
    events = api.get(f"/v1/fine_tuning/jobs/{job['id']}/events?limit=100").json()
    assert events["object"] == "list" and events["data"][0]["message"].startswith("Job succeeded")
    assert any(e["type"] == "metrics" and "train_loss" in e["data"] for e in events["data"])
    page = api.get(f"/v1/fine_tuning/jobs/{job['id']}/events?limit=2").json()
    assert page["has_more"] and len(page["data"]) == 2
    after = api.get(f"/v1/fine_tuning/jobs/{job['id']}/events?limit=2&after={page['data'][-1]['id']}").json()
    assert after["data"][0]["id"] == events["data"][2]["id"]


def test_a_dpo_job_a_both_job_and_pagination(api, model):
    pref, sft = upload(api, PREF), upload(api, SFT)
    first = api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": pref,
                                              "method": {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "beta": "auto"}}}}).json()
    second = api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": sft, "preference_file": pref,
                                               "method": {"type": "supervised+dpo", "supervised": {"hyperparameters": {"n_epochs": 1}},
                                                          "dpo": {"hyperparameters": {"n_epochs": 1}}}}).json()
    assert first["method"]["dpo"]["hyperparameters"]["beta"] == 0.1
    assert wait_final(first["id"]).status == "succeeded"
    assert wait_final(second["id"]).status == "succeeded"
    assert api.get("/v1/models/ft").json()["revision"] == 2  # in submission order: 1 then 2
    runs = api.get("/v1/models/ft/revisions").json()
    assert [r["training"]["kind"] for r in runs[1:]] == ["dpo", "supervised+dpo"]
    listed = api.get("/v1/fine_tuning/jobs?limit=1").json()
    assert listed["has_more"] and listed["data"][0]["id"] == second["id"]
    rest = api.get(f"/v1/fine_tuning/jobs?limit=1&after={second['id']}").json()
    assert [j["id"] for j in rest["data"]] == [first["id"]] and not rest["has_more"]


def test_cancel_leaves_the_model_exactly_at_its_revision(api, model):
    train = upload(api, SFT * 10)
    job = api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": train,
                                            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 50, "batch_size": 1}}}}).json()
    queued = api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": train}).json()
    assert api.post(f"/v1/fine_tuning/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
    from inference.models import FineTuneEvent

    for _ in range(600):  # wait for the first step's event
        if FineTuneEvent.objects.filter(job_id=job["id"], type="metrics").exists():
            break
        import threading

        threading.Event().wait(0.1)
    r = api.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.json()
    assert r.json()["result_revision"] is None
    assert api.get("/v1/models/ft").json()["revision"] == 0
    assert api.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel").status_code == 400


def test_invalid_requests_name_their_field(api, model, bob_api):
    sft, pref = upload(api, SFT), upload(api, PREF)
    cases = [
        ({"model": "llama-3.1-8b", "training_file": sft}, 403, "model"),
        ({"model": "nope", "training_file": sft}, 404, "model"),
        ({"model": model, "training_file": "file-nope"}, 404, "training_file"),
        ({"model": model, "training_file": pref}, 400, "training_file"),
        ({"model": model, "training_file": sft, "method": {"type": "rl"}}, 400, "method.type"),
        ({"model": model, "training_file": sft, "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}},
         400, "method.supervised.hyperparameters.n_epochs"),
        ({"model": model, "training_file": sft, "method": {"type": "supervised", "supervised": {"hyperparameters": {"lr": 1}}}},
         400, "method.supervised.hyperparameters.lr"),
        ({"model": model, "training_file": sft, "seed": -1}, 400, "seed"),
        ({"model": model, "training_file": sft, "early_stopping": {"patience": 0}}, 400, "early_stopping.patience"),
        ({"model": model, "training_file": sft, "method": {"type": "supervised+dpo"}}, 400, "preference_file"),
    ]
    for body, status, param in cases:
        r = api.post("/v1/fine_tuning/jobs", body)
        assert (r.status_code, r.json()["error"]["param"]) == (status, param), (body, r.json())
    assert bob_api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": sft}).status_code == 404
    assert FineTuneJob.objects.count() == 0


def test_jobs_are_private_and_limited(api, model, bob_api, settings):
    settings.TIGER = {**settings.TIGER, "MAX_ACTIVE_JOBS": 1}
    train = upload(api, SFT)
    job = api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": train}).json()
    r = api.post("/v1/fine_tuning/jobs", {"model": model, "training_file": train})
    assert (r.status_code, r.json()["error"]["code"], r.headers["Retry-After"]) == (429, "too_many_jobs", "30")
    assert r.json()["error"]["message"] == ("Your fine-tuning jobs queued or running: 1 of at most 1 (the limit "
                                            "TIGER_MAX_ACTIVE_JOBS is 1). Wait for one to finish, or cancel one.")
    for path in (f"/v1/fine_tuning/jobs/{job['id']}", f"/v1/fine_tuning/jobs/{job['id']}/events"):
        assert bob_api.get(path).status_code == 404
    assert bob_api.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel").status_code == 404
    assert bob_api.get("/v1/fine_tuning/jobs").json()["data"] == []
    wait_final(job["id"])


def test_the_runner_leaves_a_users_jobs_beyond_their_running_limit_queued_while_others_go_ahead(api, bob_api, model,
                                                                                                 settings):
    from inference.finetune_runner import next_job
    from inference.models import TunedModel

    settings.TIGER = {**settings.TIGER, "MAX_RUNNING_JOBS": 1}
    assert bob_api.post("/v1/models", {"name": "bobs", "parent_model": "llama-3.1-8b"}).status_code == 201
    mine, bobs = TunedModel.objects.get(slug=model), TunedModel.objects.get(slug="bobs")

    def job(owned_by, status: str, base: str) -> FineTuneJob:
        # Bases no runner thread serves: these rows are only read by next_job here. Ids in creation order.
        return FineTuneJob.objects.create(id=f"ftjob-{FineTuneJob.objects.count()}", owner=owned_by.owner,
                                          model=owned_by, base_name=base, status=status, training_file="file-x", seed=0)

    job(mine, "running", "base-a")
    waiting = job(mine, "queued", "base-b")  # older than bob's, but alice already has a job running
    bobs_job = job(bobs, "queued", "base-b")
    assert next_job("base-b") == bobs_job
    settings.TIGER = {**settings.TIGER, "MAX_RUNNING_JOBS": 2}
    assert next_job("base-b") == waiting
