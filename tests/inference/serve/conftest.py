"""One real local Ray cluster for the session (2 CPUs, a small object store), the engine's Serve application
deployed on it by `manage.py deployengine` (2 replicas of a tiny random Llama built here), and two web
processes (uvicorn, TIGER_ENGINE=ray) on one PostgreSQL database and one data directory.

Ray and PostgreSQL missing: the tests are skipped, except under `make test` (and CI), which sets
TIGER_REQUIRE_SERVICES=1: there they fail.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.live_server import ROOT, LiveServer

POSTGRES_URL = os.environ.get("TIGER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
BASE = "Llama-3.1-8b"
UNDEPLOYED = "DeepSeek-R1-8b"  # configured on the web tier, never deployed: requests for it get a 503


def _unavailable(message: str):
    if os.environ.get("TIGER_REQUIRE_SERVICES") or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Site:
    """The deployment under test: the cluster's address, its failpoint directory, and the web processes."""

    def __init__(self, address: str, failpoints, web: list[LiveServer], key: str, *, prefix: str, data_dir):
        self.address, self.failpoints, self.web, self.key = address, failpoints, web, key
        self.prefix, self.data_dir = prefix, data_dir  # the applications' name prefix; the shared data directory
        self.url = web[0].url
        self.headers = {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: dict, web: int = 0) -> httpx.Response:
        return httpx.post(self.web[web].url + path, json=body, headers=self.headers, timeout=120)

    def health(self, web: int = 0) -> dict:
        return httpx.get(self.web[web].url + "/v1/health", timeout=30).json()["engine"]

    def arm(self, failpoint: str) -> None:
        """The next replica that reaches `failpoint` kills itself (tigercity/failpoints.py)."""
        (self.failpoints / failpoint).touch()

    def routable(self, multiplexed_id: str) -> bool:
        """Whether Serve's controller lists `multiplexed_id` on a running replica: what it tells every
        router (a replica's own stats say it holds an adapter a moment before the routers know)."""
        import ray
        from ray.serve._private.common import DeploymentID, ReplicaState
        from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

        from inference.catalog import model_id

        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        deployment = DeploymentID(name="engine", app_name=f"{self.prefix}-{model_id(BASE)}")
        replicas = ray.get(controller._dump_replica_states_for_testing.remote(deployment)).get([ReplicaState.RUNNING])
        return any(multiplexed_id in r.multiplexed_model_ids for r in replicas)

    def replicas(self) -> list[dict]:
        return [r for r in self.health().get("replicas", []) if r["state"] == "RUNNING"]

    @staticmethod
    def wait_until(condition, what: str, timeout: float = 60.0) -> None:
        """Poll `condition()` until it holds (a state, not a guessed delay)."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    def wait_for(self, predicate, what: str, timeout: float = 180.0, web: int = 0):
        """Poll /v1/health until `predicate(replicas)` holds (a state, not a guessed delay)."""
        deadline = time.monotonic() + timeout
        while True:
            replicas = [r for r in self.health(web).get("replicas", []) if r["state"] == "RUNNING"]
            if predicate(replicas):
                return replicas
            assert time.monotonic() < deadline, f"{what}: {replicas}\n{self.logs()}"
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(f"--- web {i} ---\n{w.log()[-3000:]}" for i, w in enumerate(self.web))


@pytest.fixture(scope="session")
def database():
    psycopg = pytest.importorskip("psycopg")
    name = f"tigercity_ray_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as e:
        _unavailable(f"PostgreSQL at {POSTGRES_URL} is not reachable: {e}")
    yield f"{POSTGRES_URL}/{name}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A local Ray cluster that lives as long as this test process (its driver)."""
    try:
        import ray
    except ImportError as e:
        _unavailable(f"Ray is not installed (pip install -e '.[ray]'): {e}")
    ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False, namespace="tigercity-tests",
             log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def site(tmp_path_factory, ray_cluster, database):
    from tests.inference.engine.tiny import build_checkpoint

    checkpoint = build_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny-llama")
    shared = tmp_path_factory.mktemp("shared-data")
    failpoints = tmp_path_factory.mktemp("failpoints")
    env = {
        "DATABASE_URL": database, "TIGER_DATA_DIR": str(shared), "TIGER_ENGINE": "ray",
        "TIGER_RAY_ADDRESS": ray_cluster, "TIGER_RAY_APP_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        "TIGER_ENGINE_TIMEOUT": "60", "TIGER_ENGINE_PROCESS": "0", "TIGER_MAX_TOKENS": "220",
        "TIGER_BASE_MODELS": json.dumps({BASE: str(checkpoint), UNDEPLOYED: str(checkpoint)}),
        "TIGER_FAILPOINT_DIR": str(failpoints), "OMP_NUM_THREADS": "1",
    }
    web = [LiveServer(tmp_path_factory.mktemp(f"web-{i}"), env) for i in range(2)]
    web[0].manage("migrate", "--noinput")
    deploy = subprocess.Popen(
        [sys.executable, "manage.py", "deployengine", "--bases", BASE, "--replicas", "2", "--num-cpus", "0.5"],
        cwd=ROOT, env=web[0].env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with ThreadPoolExecutor() as pool:  # the web processes start while the replicas load
            key = pool.submit(web[0].create_key, "ray-alice")
            started = [pool.submit(w.start) for w in web]
            [s.result() for s in started]
            output, _ = deploy.communicate(timeout=600)
            assert deploy.returncode == 0, f"deployengine failed:\n{output}"
            site = Site(ray_cluster, failpoints, web, key.result(), prefix=env["TIGER_RAY_APP_PREFIX"], data_dir=shared)
            for i in range(len(web)):  # each web process has joined the cluster and sees both replicas
                site.wait_for(lambda replicas: len(replicas) == 2, "the replicas are not running", web=i)
            yield site
    finally:
        if deploy.poll() is None:
            deploy.kill()
        for w in web:
            w.stop()
