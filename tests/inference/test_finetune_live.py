"""Fine-tuning over a real socket: the official openai client drives a job, and a server killed
mid-job comes back with the job failed for a stated reason and the model untouched."""
import json
import time

import httpx
import pytest

from tests.live_server import LiveServer

ROWS = [{"messages": [{"role": "user", "content": f"Name colour number {i}."},
                      {"role": "assistant", "content": "Teal, like the sea."}]} for i in range(8)]
DATA = "\n".join(json.dumps(r) for r in ROWS).encode()


def call(server, key, method, path, **kwargs):
    return httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=120, **kwargs)


def wait_for(predicate, what: str, attempts: int = 600):
    """Poll a server-side state (each attempt is one request) until it holds."""
    for _ in range(attempts):
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"never reached: {what}")


def test_the_openai_client_uploads_starts_follows_and_cancels_a_job(server, server_key):
    from openai import OpenAI

    assert call(server, server_key, "POST", "/v1/models", json={"name": "sdk-ft", "parent_model": "llama-3.1-8b"}).status_code == 201
    client = OpenAI(base_url=f"{server.url}/openai/v1", api_key=server_key)
    file = client.files.create(file=("colours.jsonl", DATA), purpose="fine-tune")
    assert file.id.startswith("file-") and file.bytes == len(DATA) and file.purpose == "fine-tune"
    job = client.fine_tuning.jobs.create(
        model="sdk-ft", training_file=file.id, seed=3,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 50, "batch_size": 1}}},
        integrations=[{"type": "wandb", "wandb": {"project": "tigercity-test"}}],
        extra_body={"integrations": [{"type": "wandb", "wandb": {"project": "tigercity-test", "api_key": "wandb-secret-42"}}]},
    )
    assert job.status in ("queued", "running") and job.method.supervised.hyperparameters.n_epochs == 50
    assert "wandb-secret-42" not in job.model_dump_json()
    assert client.fine_tuning.jobs.retrieve(job.id).id == job.id
    assert job.id in [j.id for j in client.fine_tuning.jobs.list(limit=5)]
    events = wait_for(lambda: [e for e in client.fine_tuning.jobs.list_events(job.id, limit=50).data if e.type == "metrics"],
                      "a metrics event")
    assert events[0].data["total_steps"] == 7 * 50  # one of the 8 examples is held out
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    assert "wandb-secret-42" not in call(server, server_key, "GET", f"/v1/fine_tuning/jobs/{job.id}").text
    assert call(server, server_key, "GET", "/v1/models/sdk-ft").json()["revision"] == 0


@pytest.mark.slow
def test_a_server_killed_mid_job_restarts_with_the_job_failed_and_the_model_unchanged(tmp_path):
    data = tmp_path / "data"
    crashing = LiveServer(data, {"TIGER_FAILPOINTS": "during_finetune"}).start()
    key = crashing.create_key("u")
    assert call(crashing, key, "POST", "/v1/models", json={"name": "m", "parent_model": "llama-3.1-8b"}).status_code == 201
    file_id = call(crashing, key, "POST", "/v1/files", files={"file": ("d.jsonl", DATA)}, data={"purpose": "fine-tune"}).json()["id"]
    job = call(crashing, key, "POST", "/v1/fine_tuning/jobs", json={
        "model": "m", "training_file": file_id,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 1}}}}).json()
    crashing.process.wait(timeout=300)
    assert crashing.process.returncode == -9  # killed itself at its second step

    server = LiveServer(data).start()
    try:
        after = call(server, key, "GET", f"/v1/fine_tuning/jobs/{job['id']}").json()
        assert after["status"] == "failed" and after["error"]["code"] == "server_restarted"
        assert "stays at revision 0" in after["error"]["message"]
        assert call(server, key, "GET", "/v1/models/m").json()["revision"] == 0
        assert not list((data / "adapters").glob("*/rev-*"))
        again = call(server, key, "POST", "/v1/fine_tuning/jobs", json={
            "model": "m", "training_file": file_id,
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}}}).json()
        done = wait_for(lambda: (j := call(server, key, "GET", f"/v1/fine_tuning/jobs/{again['id']}").json())["status"]
                        in ("succeeded", "failed") and j, "the second job's end")
        assert done["status"] == "succeeded" and done["result_revision"] == 1
    finally:
        server.stop()
