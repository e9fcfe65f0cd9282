"""Adapter directories on disk, and the LRU of adapters on the device."""
import filecmp

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from inference.engine.lora.manager import BASE_ADAPTER, AdapterCache, AdapterSlotsBusy
from inference.engine.lora.adapters import copy_adapter, write_initial_adapter
from inference.engine.files import CONFIG_NAME as CONFIG_FILE, WEIGHTS_NAME as WEIGHTS_FILE
from inference.engine.checkpoint import load_checkpoint
from inference.engine.errors import AdapterLoadError
from inference.engine.types import AdapterRef, LoraSpec

from .conftest import Stream, request, submitted_together


@pytest.fixture
def base_model(checkpoint_dir):
    return load_checkpoint(str(checkpoint_dir), device="cpu").model


def test_revision_zero_is_a_standard_peft_directory_with_zero_b(base_model, tmp_path):
    tmp_path = tmp_path / "adapters"  # a directory of its own (the Django conftest adds one to tmp_path)
    spec = LoraSpec(rank=8, alpha=16.0, dropout=0.1, target_modules="qkvo")
    write_initial_adapter(base_model.config, spec, str(tmp_path / "rev-0"))
    assert sorted(p.name for p in (tmp_path / "rev-0").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert [p.name for p in tmp_path.iterdir()] == ["rev-0"], "no temp dir left behind"

    tensors = load_file(tmp_path / "rev-0" / WEIGHTS_FILE)
    assert len(tensors) == 2 * 4 * 2  # A and B, 4 projections, 2 layers
    assert all(t.abs().sum() == 0 for k, t in tensors.items() if ".lora_B." in k)
    assert all(t.abs().sum() > 0 for k, t in tensors.items() if ".lora_A." in k)

    model = PeftModel.from_pretrained(base_model, str(tmp_path / "rev-0"))
    config = model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.lora_dropout) == (8, 16.0, 0.1)
    assert set(config.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    a = model.base_model.model.model.layers[1].self_attn.k_proj.lora_A["default"].weight
    assert torch.equal(a, tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight"])


def test_an_adapter_directory_is_never_overwritten(base_model, tmp_path):
    write_initial_adapter(base_model.config, LoraSpec(), str(tmp_path / "rev-0"))
    with pytest.raises(FileExistsError):
        write_initial_adapter(base_model.config, LoraSpec(), str(tmp_path / "rev-0"))


def test_a_copy_of_an_adapter_has_the_same_weights(adapter_factory, tmp_path):
    source = adapter_factory("a", seed=1)
    copy_adapter(source.path, str(tmp_path / "copy"))
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        assert filecmp.cmp(f"{source.path}/{name}", tmp_path / "copy" / name, shallow=False)


def test_the_engine_creates_and_copies_adapters(engine, adapter_factory, tmp_path):
    engine.create_adapter("tiny", LoraSpec(rank=2), str(tmp_path / "new"))
    assert (tmp_path / "new" / WEIGHTS_FILE).is_file()
    source = adapter_factory("a", seed=1)
    engine.create_adapter("tiny", LoraSpec(rank=4), str(tmp_path / "copy"), copy_from=source)
    assert filecmp.cmp(f"{source.path}/{WEIGHTS_FILE}", tmp_path / "copy" / WEIGHTS_FILE, shallow=False)


def test_the_lru_evicts_the_least_recently_used_adapter_with_capacity_two(base_model, adapter_factory):
    cache = AdapterCache(base_model, capacity=2)
    a, b, c = (adapter_factory(k, seed=i) for i, k in enumerate("abc", start=1))
    for ref in (a, b):
        cache.release(cache.acquire(ref))
    cache.release(cache.acquire(a))  # a is now more recent than b
    cache.release(cache.acquire(c))
    assert cache.loaded() == [("a", 0), ("c", 0)]
    assert set(cache.peft_model.peft_config) == {cache.acquire(a), cache.acquire(c)}, "evicted from the model too"


def test_the_lru_never_evicts_an_adapter_in_use(base_model, adapter_factory):
    cache = AdapterCache(base_model, capacity=2)
    a, b, c = (adapter_factory(k, seed=i) for i, k in enumerate("abc", start=1))
    held = cache.acquire(a)  # oldest, but a request runs on it
    cache.release(cache.acquire(b))
    cache.acquire(c)
    assert cache.loaded() == [("a", 0), ("c", 0)]
    assert not cache.can_acquire(b)
    with pytest.raises(AdapterSlotsBusy):
        cache.acquire(b)
    cache.release(held)
    assert cache.can_acquire(b)
    cache.acquire(b)
    assert cache.loaded() == [("c", 0), ("b", 0)]


def test_an_untouched_revision_zero_is_the_base_itself(base_model):
    cache = AdapterCache(base_model, capacity=1)
    assert cache.acquire(AdapterRef(key="new", revision=0, path="")) == BASE_ADAPTER
    assert cache.acquire(None) == BASE_ADAPTER and cache.loaded() == []


def test_a_load_error_names_the_adapter_path(base_model, adapter_factory, tmp_path):
    cache = AdapterCache(base_model, capacity=2)
    with pytest.raises(AdapterLoadError, match=str(tmp_path / "missing")):
        cache.acquire(AdapterRef(key="m", revision=1, path=str(tmp_path / "missing")))
    broken = tmp_path / "broken"
    copy_adapter(adapter_factory("a", seed=1).path, str(broken))
    (broken / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(AdapterLoadError, match=str(broken)) as info:
        cache.acquire(AdapterRef(key="b", revision=1, path=str(broken)))
    assert info.value.__cause__ is not None
    cache.acquire(adapter_factory("a", seed=1))  # the cache still works
    assert cache.loaded() == [("a", 0)]


def test_requests_for_more_adapters_than_slots_wait_for_a_free_slot(make_engine, adapter_factory):
    engine = make_engine(adapter_cache_size=1)
    a, b = adapter_factory("a", seed=1), adapter_factory("b", seed=2)
    streams = [Stream(), Stream()]
    with submitted_together(engine._loop("tiny")):
        engine.submit(request("Hello", request_id="a", adapter=a, max_tokens=10), streams[0])
        engine.submit(request("Hello", request_id="b", adapter=b, max_tokens=10), streams[1])
    assert [s.wait().last.kind for s in streams] == ["done", "done"]
    assert engine.stats("tiny")["max_rows"] == 1
    assert engine._loop("tiny").adapters.loaded() == [("b", 0)]


def test_forgetting_a_deleted_model_unloads_its_revisions_once_unused(base_model, adapter_factory):
    cache = AdapterCache(base_model, capacity=3)
    a, b = adapter_factory("a", seed=1), adapter_factory("b", seed=2)
    held = cache.acquire(a)
    cache.release(cache.acquire(b))
    cache.forget("b")
    cache.forget("a")
    assert cache.loaded() == [("a", 0)], "a request still runs on a"
    cache.release(held)
    assert cache.loaded() == [] and not cache.peft_model.peft_config
    assert cache.module is base_model  # no adapters left: plain base forward


def test_the_engine_forgets_a_models_adapters(engine, adapter_factory, run):
    run("Hi", adapter=adapter_factory("a", seed=1))
    engine.forget_adapter("tiny", "a")
    run("Hi")  # the command runs between two steps, before this request
    assert engine._loop("tiny").adapters.loaded() == []
