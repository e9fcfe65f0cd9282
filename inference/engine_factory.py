"""Building the engine from settings: the one place this process builds an engine (the embedded runtime).
Ray replicas build theirs from the same EngineConfig, passed as the Serve application's arguments
(inference/serve/application.py)."""
from __future__ import annotations

from django.conf import settings

from inference.catalog import base_models
from inference.engine.interface import EngineInterface

_engines_built = 0


def build_engine(bases: list[str] | None = None) -> EngineInterface:
    """The engine for the configured base models (all, or those named in `bases`), configured from
    settings.TIGER.

    It runs in a child process (inference/engine/process.py), so that its decode loop never waits
    for the GIL while this process's event loop writes tokens to sockets; with TIGER_ENGINE_PROCESS=0,
    on threads of this process."""
    global _engines_built
    if settings.TIGER["ENGINE_PROCESS"]:
        from inference.engine.process import EngineProcess as Engine
    else:
        from inference.engine.serving.engine import Engine

    catalog = {m.name: m.checkpoint for m in base_models()}
    _engines_built += 1
    return Engine(
        bases={name: catalog[name] for name in (catalog if bases is None else bases)},
        config=engine_config(),
    )


def engine_config():
    """The EngineConfig that settings.TIGER describes (the embedded engine's and every Ray replica's: a
    replica checks adapter paths against the same adapters directory, on the storage every node mounts)."""
    from inference import adapter_files
    from inference.engine.config import EngineConfig

    return EngineConfig(
        adapter_cache_size=settings.TIGER["ADAPTER_CACHE_SIZE"],
        max_batch_size=settings.TIGER["MAX_BATCH_SIZE"],
        max_queue=settings.TIGER["MAX_QUEUE"],
        cpu_threads=cpu_threads(),
        adapters_root=str(adapter_files.adapters_root()),
    )


def cpu_threads() -> int | None:
    """Torch threads when serving on a CPU: TIGER_CPU_THREADS, else 1 while every base runs demo
    weights (a few-MB model is fastest on one thread; more threads only fight over the cores),
    else torch's default."""
    if settings.TIGER["CPU_THREADS"]:
        return settings.TIGER["CPU_THREADS"]
    return 1 if all(m.is_demo for m in base_models()) else None


def engines_built() -> int:
    """How many engines this process has built (the web tier of a scale-out deployment: none)."""
    return _engines_built
