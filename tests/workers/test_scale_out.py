"""The scale-out deployment for real: a web process (Daphne, TIGER_ENGINE=workers) and an engine worker
(`manage.py runengine`), both on one PostgreSQL database, one Redis and one data directory.

Everything is driven through the web process; the worker serves a tiny random Llama checkpoint (built
here, so the test does not depend on the demo weights). The processes start once for the module.
"""
import json
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.live_server import ROOT, LiveServer
from tests.workers import _websocket as websocket

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

HELLO = [{"role": "user", "content": "Hello there"}]


class Deployment:
    def __init__(self, server: LiveServer, worker: subprocess.Popen, worker_log, key: str):
        self.server, self.worker, self.worker_log, self.key = server, worker, worker_log, key
        self.url = server.url
        self.headers = {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: dict, **kw) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.headers, timeout=60, **kw)

    def health(self) -> dict:
        return httpx.get(self.url + "/v1/health", timeout=10).json()["engine"]

    def logs(self) -> str:
        return f"--- web ---\n{self.server.log()[-4000:]}\n--- worker ---\n{self.worker_log.read_text()[-4000:]}"


@pytest.fixture(scope="module")
def database(postgres_url):
    """A fresh PostgreSQL database for the module, dropped afterwards."""
    import psycopg

    name = f"tigercity_scaleout_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{postgres_url}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_url}/{name}"
    with psycopg.connect(f"{postgres_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, redis_url, database):
    from tests.inference.engine.conftest import build_checkpoint

    checkpoint = build_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny-llama")
    data_dir = tmp_path_factory.mktemp("shared-data")
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "TIGER_ENGINE": "workers",
        "TIGER_WORKER_NAMESPACE": f"test-{uuid.uuid4().hex[:12]}",
        "TIGER_WORKER_TIMEOUT": "5",
        "TIGER_BASE_MODELS": json.dumps({"Llama-3.1-8b": str(checkpoint), "DeepSeek-R1-8b": str(checkpoint)}),
        "TIGER_MAX_TOKENS": "16",
        "OMP_NUM_THREADS": "1",
    }
    server = LiveServer(data_dir, env)
    server.manage("migrate", "--noinput")
    worker_log = data_dir / "worker.log"
    with open(worker_log, "ab") as log:  # the worker, the web process and the key are made side by side
        worker = subprocess.Popen([sys.executable, "manage.py", "runengine", "--bases", "llama-3.1-8b", "--grace", "5"],
                                  cwd=ROOT, env=server.env, stdout=log, stderr=subprocess.STDOUT)
    with ThreadPoolExecutor() as pool:
        key = pool.submit(server.create_key, "scaled-alice")
        pool.submit(server.start).result()
        deployment = Deployment(server, worker, worker_log, key.result())
    try:
        deadline = time.monotonic() + 60
        while not deployment.health().get("ready"):
            assert worker.poll() is None, f"the worker exited:\n{deployment.logs()}"
            assert time.monotonic() < deadline, f"the worker did not get ready:\n{deployment.logs()}"
            time.sleep(0.2)
        yield deployment
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        server.stop()


def test_a_streamed_generation_arrives_as_server_sent_events(deployment):
    events = []
    body = {"model": "llama-3.1-8b", "messages": HELLO, "stream": True, "max_tokens": 8, "temperature": 0}
    with httpx.stream("POST", deployment.url + "/v1/generate_response", json=body, headers=deployment.headers,
                      timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[len("data: "):])
    assert events[-1] == "[DONE]", deployment.logs()
    chunks = [json.loads(e) for e in events[:-1]]
    assert any(c["choices"][0]["delta"].get("content") for c in chunks[:-1])
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] in ("stop", "length") and last["usage"]["completion_tokens"] >= 1


def test_an_engine_error_on_the_worker_is_the_same_api_error_as_embedded(deployment):
    long = [{"role": "user", "content": "the cat sat on the mat " * 40}]  # the tiny model's context is 256
    response = deployment.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": long})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and "256" in error["message"]


def test_training_on_a_worker_bumps_the_revision_and_generation_follows_it(deployment):
    created = deployment.post("/v1/models", {"name": "Scaled", "parent_model": "llama-3.1-8b", "rank": 4})
    assert created.status_code == 201, created.text
    trained = deployment.post("/v1/train", {
        "model": "scaled", "messages": [{"role": "user", "content": "What is 2 + 3?"}],
        "responses": [{"content": "5", "reward": 1}, {"content": "7", "reward": 0}],
        "learning_steps": 2, "learning_rate": 0.01,
    })
    assert trained.status_code == 200, f"{trained.text}\n{deployment.logs()}"
    body = trained.json()
    assert body["revision"] == 1 and body["training"]["changed"] is True and body["training"]["steps"] == 2
    answer = deployment.post("/v1/generate_response", {"model": "scaled", "messages": HELLO, "max_tokens": 4})
    assert answer.status_code == 200, answer.text
    assert answer.json()["revision"] == 1


async def test_the_chat_websocket_streams_for_a_signed_in_session(deployment):
    password = "a-long-pass-phrase-42"
    with httpx.Client(base_url=deployment.url, timeout=30) as browser:
        browser.get("/signup/")
        signed_up = browser.post("/signup/", data={
            "username": "socket-sam", "password1": password, "password2": password,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"]})
        assert signed_up.status_code == 302, signed_up.text
        cookie = f"sessionid={browser.cookies['sessionid']}"
    events = await websocket.exchange(
        deployment.url.replace("http", "ws") + "/ws/chat/",
        {"type": "generate", "id": "c1", "model": "llama-3.1-8b", "messages": HELLO, "max_tokens": 6},
        headers={"Cookie": cookie, "Origin": deployment.url})
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done", events
    assert "delta" in kinds and all(e["id"] == "c1" for e in events)


def test_the_web_process_holds_no_model_and_the_worker_does(deployment):
    status = deployment.health()
    assert status["backend"] == "workers"
    assert status["loaded"] == [] and status["local_engines"] == 0  # after generating, training, chatting
    [worker] = status["workers"]
    assert worker["pid"] == deployment.worker.pid != deployment.server.process.pid
    assert worker["ready"] == ["Llama-3.1-8b"]


def test_a_stopped_worker_exits_cleanly_and_then_requests_get_a_503_not_a_hang(deployment):
    deployment.worker.send_signal(signal.SIGTERM)
    assert deployment.worker.wait(30) == 0, deployment.logs()
    started = time.monotonic()
    response = deployment.post("/v1/generate_response", {"model": "llama-3.1-8b", "messages": HELLO})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] and response.json()["error"]["type"] == "server_error"
    assert time.monotonic() - started < 15
    assert deployment.health()["ready"] is False
