"""Engine test fixtures: a tiny random Llama checkpoint on disk, adapters for it, and an engine.

Everything is built here (no download), seeded, and small enough that the whole tests/inference/engine run
stays fast on two CPU cores. No Django: run with `-p no:django`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from inference.engine.lora.adapters import write_initial_adapter
from inference.engine.files import WEIGHTS_NAME as WEIGHTS_FILE
from inference.engine.config import EngineConfig
from inference.engine.serving.engine import Engine
from inference.engine.types import AdapterRef, GenerationRequest, LoraSpec, SamplingParams

BASE = "tiny"
CONTEXT = 256
SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
# Llama-3.1-Instruct's template, minus the tools and date preamble.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE without merges: one token per byte (so characters span several tokens)."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for tok in SPECIALS:
        vocab[tok] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIALS))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", chat_template=CHAT_TEMPLATE
    )


def build_checkpoint(path: Path, seed: int = 0) -> Path:
    """A 2-layer Llama (hidden 64) with its tokenizer and generation config, as safetensors."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    eot, eos = tokenizer.convert_tokens_to_ids(["<|eot_id|>", "<|end_of_text|>"])
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=CONTEXT,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos, tie_word_embeddings=False,
        initializer_range=0.1,  # peakier logits than the default: greedy ties are unlikely
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=[eos, eot]).save_pretrained(path)
    return path


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
