"""SIGKILL at the worst moments, then a restart: the database and the files agree, nothing is lost."""
import httpx
import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

CONTEXT = [{"role": "user", "content": "What is 2 + 3?"}]
REWARDED = [{"content": "2 + 3 = 5.", "reward": 1}, {"content": "2 + 3 = 8.", "reward": 0}]


def call(server, key, method, path, **kwargs):
    return httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {key}"},
                         timeout=120, **kwargs)


def train(server, key, model="m"):
    return call(server, key, "POST", "/v1/train", json={"model": model, "messages": CONTEXT, "responses": REWARDED,
                                                         "learning_rate": 0.05, "learning_steps": 2})


def generate(server, key, model="m"):
    return call(server, key, "POST", "/v1/generate_response",
                json={"model": model, "messages": CONTEXT, "temperature": 0, "max_tokens": 12}).json()


def revision_dirs(data_dir):
    return sorted(p.relative_to(data_dir / "adapters").as_posix() for p in (data_dir / "adapters").glob("*/*"))


def test_a_training_killed_between_its_directory_and_its_row_leaves_the_previous_revision(tmp_path):
    data = tmp_path / "data"
    server = LiveServer(data).start()
    key = server.create_key("u")
    assert call(server, key, "POST", "/v1/models", json={"name": "m", "parent_model": "llama-3.1-8b"}).status_code == 201
    assert train(server, key).json()["revision"] == 1
    before = generate(server, key)
    server.stop()

    crashing = LiveServer(data, {"TIGER_FAILPOINTS": "after_revision_write"}).start()
    with pytest.raises(httpx.HTTPError):
        train(crashing, key)
    crashing.process.wait(timeout=30)
    assert crashing.process.returncode == -9  # it died at the failpoint, with revision 2 written but not committed
    assert any(d.endswith("/rev-2") for d in revision_dirs(data))

    server = LiveServer(data).start()
    try:
        assert call(server, key, "GET", "/v1/models/m").json()["revision"] == 1
        after = generate(server, key)
        assert (after["revision"], after["choices"]) == (1, before["choices"])
        dirs = revision_dirs(data)
        assert not any(d.endswith("/rev-2") or "/.tmp-" in d for d in dirs), dirs
        assert [r["revision"] for r in call(server, key, "GET", "/v1/models/m/revisions").json()] == [0, 1]
        assert train(server, key).json()["revision"] == 2  # and training goes on where it left off
    finally:
        server.stop()


def test_a_model_creation_killed_mid_copy_leaves_no_model_and_no_files(tmp_path):
    data = tmp_path / "data"
    server = LiveServer(data).start()
    key = server.create_key("u")
    call(server, key, "POST", "/v1/models", json={"name": "m", "parent_model": "llama-3.1-8b"})
    train(server, key)
    server.stop()
    dirs_before = revision_dirs(data)

    crashing = LiveServer(data, {"TIGER_FAILPOINTS": "after_model_copy"}).start()
    with pytest.raises(httpx.HTTPError):
        call(crashing, key, "POST", "/v1/models", json={"name": "twin", "parent_model": "m"})
    crashing.process.wait(timeout=30)
    assert len(revision_dirs(data)) > len(dirs_before)  # the copy's files were written

    server = LiveServer(data).start()
    try:
        assert call(server, key, "GET", "/v1/models/twin").status_code == 404
        assert revision_dirs(data) == dirs_before
        assert call(server, key, "POST", "/v1/models", json={"name": "twin", "parent_model": "m"}).status_code == 201
        assert generate(server, key, "twin")["choices"] == generate(server, key, "m")["choices"]
    finally:
        server.stop()
