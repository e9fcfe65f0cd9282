"""Engine test fixtures: the tiny model's checkpoint on disk (tiny.py), adapters for it, an engine, and
a collector of one request's events. No Django: run with `-p no:django`.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from inference.engine.lora.adapters import write_initial_adapter
from inference.engine.files import WEIGHTS_NAME as WEIGHTS_FILE
from inference.engine.config import EngineConfig
from inference.engine.serving.engine import Engine
from inference.engine.types import AdapterRef, GenerationRequest, LoraSpec, SamplingParams

from .tiny import BASE, build_checkpoint


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-llama")


@pytest.fixture(scope="session")
def adapter_factory(tmp_path_factory, checkpoint_dir):
    """make(name, seed=None) -> AdapterRef: revision 0 (B = 0) when seed is None, else random B."""
    from transformers import AutoConfig

    root = tmp_path_factory.mktemp("adapters")
    config = AutoConfig.from_pretrained(checkpoint_dir)
    made: dict[tuple, AdapterRef] = {}

    def make(name: str, seed: int | None = None, spec: LoraSpec = LoraSpec(rank=4, alpha=8.0, dropout=0.0)) -> AdapterRef:
        if (name, seed, spec) in made:
            return made[(name, seed, spec)]
        path = root / f"{name}-{seed}"
        write_initial_adapter(config, spec, str(path), seed=seed or 0)
        if seed is not None:
            gen = torch.Generator().manual_seed(seed)
            tensors = load_file(path / WEIGHTS_FILE)
            for key, t in tensors.items():
                if ".lora_B." in key:
                    tensors[key] = torch.randn(t.shape, generator=gen) * 0.5
            save_file(tensors, str(path / WEIGHTS_FILE), metadata={"format": "pt"})
        made[(name, seed, spec)] = ref = AdapterRef(key=name, revision=0, path=str(path))
        return ref

    return make


@pytest.fixture
def make_engine(checkpoint_dir):
    """make(**config) -> a started Engine on the tiny checkpoint (shut down after the test)."""
    engines = []

    def make(**overrides) -> Engine:
        engine = Engine({BASE: str(checkpoint_dir)}, EngineConfig(device="cpu", cpu_threads=1, **overrides))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.shutdown()


@pytest.fixture
def engine(make_engine) -> Engine:
    return make_engine()


@dataclass
class Stream:
    """Every event of one request, collected from the engine thread."""

    events: list = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def __call__(self, event) -> None:
        self.events.append(event)
        if event.kind in ("done", "failed"):
            self.done.set()

    def wait(self, timeout: float = 30) -> "Stream":
        assert self.done.wait(timeout), f"no Done/Failed within {timeout}s: {self.events}"
        return self

    def text(self, index: int = 0) -> str:
        return "".join(e.text for e in self.events if e.kind == "delta" and e.index == index)

    def finished(self, index: int = 0):
        return next(e for e in self.events if e.kind == "finished" and e.index == index)

    @property
    def last(self):
        return self.events[-1]


def request(
    content: str = "Hello there",
    *,
    request_id: str = "r",
    adapter: AdapterRef | None = None,
    **params,
) -> GenerationRequest:
    params.setdefault("temperature", 0.0)
    params.setdefault("max_tokens", 12)
    return GenerationRequest(
        request_id=request_id, base=BASE, messages=({"role": "user", "content": content},),
        params=SamplingParams(**params), adapter=adapter,
    )


@pytest.fixture
def run(engine):
    """run(content, **kw) -> the finished Stream of one request on the default engine."""

    def go(content: str = "Hello there", *, target: Engine | None = None, **kw) -> Stream:
        stream = Stream()
        (target or engine).submit(request(content, **kw), stream)
        return stream.wait()

    return go


@contextmanager
def submitted_together(loop):
    """Requests submitted (or trainings queued) inside the block reach the loop together, in its next
    step: the loop takes their mailbox under this lock, which the block holds."""
    with loop._cv:
        yield
