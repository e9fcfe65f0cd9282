"""Where the embedded engine runs: a child process by default, threads of this process on request."""
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
