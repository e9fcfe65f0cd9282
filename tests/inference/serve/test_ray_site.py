"""The web tier in `ray` mode for real: generation, streaming, cancellation, training and revisions through
two web processes and a Serve application of two replicas; a replica killed mid-stream and mid-training;
adapter affinity asserted from the replicas' own figures. The site starts once for the session."""
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.inference.serve.conftest import UNDEPLOYED

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HELLO = [{"role": "user", "content": "Hello there"}]
LONG = [{"role": "user", "content": "a b c d"}]  # the tiny checkpoint answers it greedily with 220 tokens
TRAIN = {"messages": [{"role": "user", "content": "What is 2 + 3?"}],
         "responses": [{"content": "5", "reward": 1}, {"content": "7", "reward": 0}],
         "learning_steps": 1, "learning_rate": 0.01}


def stream(site, body: dict, *, stop_after_first_delta: bool = False) -> list[dict | str]:
    """The SSE data lines of a streamed generation (JSON-decoded, but "[DONE]")."""
    events = []
    with httpx.stream("POST", site.url + "/v1/generate_response", json={**body, "stream": True},
                      headers=site.headers, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: "):]
            events.append(data if data == "[DONE]" else json.loads(data))
            if stop_after_first_delta and isinstance(events[-1], dict) and events[-1].get("choices") and \
                    events[-1]["choices"][0]["delta"].get("content"):
                return events
    return events


def create(site, name: str) -> dict:
    response = site.post("/v1/models", {"name": name, "parent_model": "llama-3.1-8b", "rank": 4})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_streamed_generation_arrives_as_server_sent_events(site):
    events = stream(site, {"model": "llama-3.1-8b", "messages": HELLO, "max_tokens": 8, "temperature": 0})
    assert events[-1] == "[DONE]", site.logs()
    assert any(e["choices"][0]["delta"].get("content") for e in events[:-2])
    assert events[-2]["usage"]["completion_tokens"] >= 1


def test_an_engine_error_on_a_replica_is_the_same_api_error_as_embedded(site):
    long = [{"role": "user", "content": "the cat sat on the mat " * 40}]  # the tiny model's context is 256
    response = site.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": long})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_a_base_model_without_replicas_is_a_503_with_retry_after(site):
    response = site.post("/v1/generate_response", {"model": UNDEPLOYED.lower(), "messages": HELLO, "max_tokens": 2})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] and response.json()["error"]["type"] == "server_error"


def test_a_client_that_goes_away_cancels_its_generation_on_the_replica(site):
    before = sum(r["cancelled"] for r in site.replicas())
    # The replica holds this generation after its first token until it is cancelled (a hold point), so
    # it is still running when the client goes away, however long the tiny model's answer would be.
    site.arm("replica_hold_after_first_token")
    try:
        stream(site, {"model": "llama-3.1-8b", "messages": HELLO, "temperature": 0}, stop_after_first_delta=True)
        assert not (site.failpoints / "replica_hold_after_first_token").exists(), "no replica held the generation"
    finally:
        (site.failpoints / "replica_hold_after_first_token").unlink(missing_ok=True)
    site.wait_for(lambda replicas: sum(r["cancelled"] for r in replicas) > before, "no replica saw the cancellation")


def test_training_bumps_the_revision_and_generation_follows_it(site):
    create(site, "Trained")
    trained = site.post("/v1/train", {"model": "trained", **TRAIN})
    assert trained.status_code == 200, f"{trained.text}\n{site.logs()}"
    assert trained.json()["revision"] == 1 and trained.json()["training"]["changed"] is True
    answer = site.post("/v1/generate_response", {"model": "trained", "messages": HELLO, "max_tokens": 4}, web=1)
    assert answer.status_code == 200, answer.text
    assert answer.json()["revision"] == 1


def revisions(site, model: str) -> list[dict]:
    response = httpx.get(f"{site.url}/v1/models/{model}/revisions", headers=site.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_two_web_processes_train_one_model_one_at_a_time_and_its_revisions_stay_consecutive(site):
    create(site, "Shared")
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda web: site.post("/v1/train", {"model": "shared", **TRAIN}, web=web), [0, 1, 0, 1]))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["revision"] for a in answers) == [1, 2, 3, 4]
    assert sorted(r["revision"] for r in revisions(site, "shared")) == [0, 1, 2, 3, 4]


def test_requests_for_one_adapter_land_on_the_replica_that_holds_it(site):
    create(site, "Affine")
    seen = {a for r in site.replicas() for a in r["served"]}
    body = {"model": "affine", "messages": HELLO, "max_tokens": 2}
    assert site.post("/v1/generate_response", body).status_code == 200  # warm-up: one replica loads it
    replicas = site.wait_for(lambda rs: any(set(r["adapters"]) - seen for r in rs), "no replica holds the adapter")
    [holder] = [r for r in replicas if set(r["adapters"]) - seen]
    [adapter] = set(holder["adapters"]) - seen
    site.wait_until(lambda: site.routable(adapter), f"Serve's routers are not told that a replica holds {adapter}")
    for web in (0, 1, 0, 1):
        assert site.post("/v1/generate_response", body, web=web).status_code == 200
    served = {r["replica"]: r["served"].get(adapter, 0) for r in site.replicas()}
    assert served == {**{r: 0 for r in served}, holder["replica"]: 5}


def test_a_replica_killed_mid_stream_ends_that_stream_with_an_error_and_the_next_request_succeeds(site):
    pids = {r["pid"] for r in site.replicas()}
    site.arm("replica_mid_stream")
    events = stream(site, {"model": "llama-3.1-8b", "messages": LONG, "temperature": 0})
    assert isinstance(events[-1], dict) and events[-1]["error"]["code"] == "replica_lost", events[-3:]
    answer = site.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO, "max_tokens": 4})
    assert answer.status_code == 200, answer.text
    replicas = site.wait_for(lambda rs: len(rs) == 2 and {r["pid"] for r in rs} != pids, "no replica restarted")
    assert len(pids & {r["pid"] for r in replicas}) == 1  # one survived, one is new


def test_a_training_whose_replica_died_commits_nothing_and_the_next_one_continues_the_revisions(site):
    create(site, "Fragile")
    assert site.post("/v1/train", {"model": "fragile", **TRAIN}).status_code == 200
    site.wait_for(lambda rs: len(rs) == 2, "the replicas are not both running")
    site.arm("replica_after_train")  # the replica dies with the new revision on disk, before it answers
    lost = site.post("/v1/train", {"model": "fragile", **TRAIN})
    assert lost.status_code == 503 and lost.json()["error"]["code"] == "replica_lost", lost.text
    assert lost.headers["Retry-After"]
    assert sorted(r["revision"] for r in revisions(site, "fragile")) == [0, 1]
    again = site.post("/v1/train", {"model": "fragile", **TRAIN}, web=1)
    assert again.status_code == 200, again.text
    assert again.json()["revision"] == 2
    answer = site.post("/v1/generate_response", {"model": "fragile", "messages": HELLO, "max_tokens": 2})
    assert answer.status_code == 200 and answer.json()["revision"] == 2, answer.text
    site.wait_for(lambda rs: len(rs) == 2, "Serve did not restart the replica")


def test_health_lists_the_replicas_and_the_web_processes_hold_no_model(site):
    for web in (0, 1):
        status = site.health(web)
        assert status["backend"] == "ray" and status["ready"] is True
        assert status["loaded"] == [] and status["local_engines"] == 0  # after generating and training
        running = [r for r in status["replicas"] if r["state"] == "RUNNING"]
        assert len(running) == 2 and all(r["base"] == "Llama-3.1-8b" for r in running)
        assert all(isinstance(r["adapters"], list) and r["pid"] for r in running)


def fine_tuning_job(dest, job_id: str, epochs: int):
    from inference.engine.training.examples import SupervisedExample
    from inference.engine.types import AdapterRef, FineTuneRequest, FineTuneStage, LoraSpec

    examples = tuple(SupervisedExample(({"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": "A."}),
                                       (False, True)) for i in range(4))
    return FineTuneRequest(job_id=job_id, base="Llama-3.1-8b", source=AdapterRef(job_id, 0, ""), dest_revision=1,
                           dest_path=str(dest), lora=LoraSpec(rank=2, alpha=4.0, dropout=0.0),
                           stages=(FineTuneStage("supervised", n_epochs=epochs, batch_size=2, learning_rate=1e-2),),
                           supervised_train=examples)


@pytest.fixture
def runtime(site, settings):
    """The Ray runtime in this test process (already a driver of the cluster), for what the web tier does
    not call yet: fine-tuning jobs."""
    from inference.serve.runtime import RayRuntime

    settings.TIGER = {**settings.TIGER, "RAY_APP_PREFIX": site.prefix}
    return RayRuntime(address=site.address, timeout=60)


def test_a_fine_tuning_job_runs_on_a_replica_reports_progress_and_writes_its_revision(site, runtime):
    dest = site.data_dir / "adapters" / "job-a" / "rev-1"
    events = []
    result = runtime.finetune(fine_tuning_job(dest, "job-a", epochs=1), events.append).result(timeout=300)
    assert result.steps == 2 and (dest / "adapter_model.safetensors").exists()
    assert [e.data["step"] for e in events if e.type == "metrics" and "train_loss" in e.data] == [1, 2]
    assert runtime.context_length("Llama-3.1-8b") == 256


def test_a_cancelled_fine_tuning_job_writes_nothing(site, runtime):
    import threading

    from inference.engine.errors import FineTuneCancelled

    dest = site.data_dir / "adapters" / "job-b" / "rev-1"
    started = threading.Event()
    future = runtime.finetune(fine_tuning_job(dest, "job-b", epochs=200),
                              lambda event: started.set() if event.type == "metrics" else None)
    assert started.wait(300)
    assert runtime.cancel_finetune("job-b")
    with pytest.raises(FineTuneCancelled):
        future.result(timeout=120)
    site.wait_for(lambda rs: sum(r["jobs_cancelled"] for r in rs) == 1, "no replica cancelled the job")
    assert not dest.exists()
