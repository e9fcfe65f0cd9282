"""Where the embedded engine runs: a child process by default, threads of this process on request."""
import pytest

from inference.engine.serving.engine import Engine
from inference.engine.process import EngineProcess
from inference.engine_factory import build_engine


def test_the_engine_runs_in_a_child_process_by_default_and_on_threads_when_switched_off(settings):
    settings.TIGER = {**settings.TIGER, "ENGINE_PROCESS": True}
    engine = build_engine()
    assert isinstance(engine, EngineProcess) and engine.pid is None  # nothing starts before first use
    assert sorted(engine.bases) == ["DeepSeek-R1-8b", "Llama-3.1-8b"]
    settings.TIGER = {**settings.TIGER, "ENGINE_PROCESS": False}
    assert isinstance(build_engine(), Engine)


def test_the_server_engine_only_accepts_adapter_paths_under_the_data_directory(settings):
    """Whatever carries a request to it (a pipe, a worker queue), the engine checks its paths itself."""
    for in_process in (True, False):
        settings.TIGER = {**settings.TIGER, "ENGINE_PROCESS": in_process}
        assert build_engine().config.adapters_root == str(settings.DATA_DIR / "adapters")


@pytest.mark.django_db
def test_a_base_model_that_fails_to_load_is_in_health_and_its_requests_get_503_saying_why(api, settings, monkeypatch,
                                                                                           tmp_path):
    import shutil
    import time

    from inference import runtime
    from inference.engine.demo import DEMO_CHECKPOINTS

    broken = tmp_path / "broken"
    shutil.copytree(DEMO_CHECKPOINTS["Llama-3.1-8b"], broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not weights")
    settings.TIGER = {**settings.TIGER, "BASE_MODELS": {"Broken": str(broken)}, "ENGINE_PROCESS": False}
    embedded = runtime.EmbeddedRuntime()
    monkeypatch.setattr(runtime, "_runtime", embedded)
    try:
        embedded.engine().start("Broken")
        deadline = time.monotonic() + 60
        while "Broken" not in runtime.status()["failed"] and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for a state (the load has failed), not a guessed delay
        health = api.get("/v1/health").json()["engine"]
        assert "Broken" in health["failed"] and "Broken" not in health["loaded"]
        assert str(tmp_path) not in str(health)
        response = api.post("/v1/generate_response", {"model": "broken", "messages": [{"role": "user", "content": "x"}]})
        assert response.status_code == 503, response.content
        error = response.json()["error"]
        assert error["code"] == "base_model_failed" and "Broken" in error["message"] and "failed to load" in error["message"]
        assert str(tmp_path) not in response.content.decode()  # the server's paths stay in its log
    finally:
        embedded.shutdown()


async def test_a_generation_whose_caller_left_before_the_engine_answered_is_cancelled_once_accepted(monkeypatch):
    """start_generation awaits the engine's answer on the loop; a caller cancelled meanwhile leaves no
    generation running with nobody to close it, and the engine's answer is not lost (not cancelled)."""
    import asyncio
    from concurrent.futures import Future

    from inference import runtime
    from inference.engine.errors import QueueFull
    from inference.engine.types import GenerationRequest
    from tests.fakes import BASE, FakeEngine

    engine, answers = FakeEngine(), []

    def submit_nowait(req, on_event):
        answers.append(Future())
        return answers[-1]

    monkeypatch.setattr(engine, "submit_nowait", submit_nowait)
    embedded = runtime.EmbeddedRuntime()
    embedded._engine = engine
    request = GenerationRequest(request_id="left", base=BASE, messages=({"role": "user", "content": "hi"},))
    task = asyncio.ensure_future(embedded.start_generation(request))
    while not answers:
        await asyncio.sleep(0)  # until the task has submitted (a state, not a delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not answers[0].cancelled() and engine.cancelled == []
    answers[0].set_result(None)
    assert engine.cancelled == ["left"]

    refused = asyncio.ensure_future(embedded.start_generation(request))
    while len(answers) < 2:
        await asyncio.sleep(0)
    answers[1].set_exception(QueueFull(3, 3))
    with pytest.raises(QueueFull):
        await refused
