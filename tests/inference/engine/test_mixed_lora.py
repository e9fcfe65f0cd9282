"""The engine's per-row adapter forward against peft's own mixed-batch forward (adapter_names=...)."""
import pytest
import torch

from inference.engine.lora.manager import BASE_ADAPTER, AdapterCache
from inference.engine.checkpoint import load_checkpoint
from inference.engine.types import LoraSpec


@pytest.fixture
def cache_with_adapters(checkpoint_dir, adapter_factory):
    """A cache holding three adapters with random B: two qkvo_ffn ones and one on q/v only."""
    cache = AdapterCache(load_checkpoint(str(checkpoint_dir), device="cpu").model, capacity=4)
    names = [cache.acquire(adapter_factory(k, seed=i)) for i, k in enumerate("ab", start=1)]
    names.append(cache.acquire(adapter_factory("qv", seed=3, spec=LoraSpec(rank=2, alpha=4.0, dropout=0.0,
                                                                              target_modules="qv"))))
    return cache, names


def both(cache, rows, ids):
    with torch.no_grad():
        ours = cache.forward(rows, input_ids=ids).logits
        peft = cache.peft_model(input_ids=ids, adapter_names=rows).logits
    return ours, peft


def test_a_batch_of_one_adapter_is_bitwise_what_peft_computes(cache_with_adapters):
    cache, (a, b, qv) = cache_with_adapters
    for rows in ([a], [a, a, a], [qv, qv], [BASE_ADAPTER, BASE_ADAPTER]):
        ours, peft = both(cache, rows, torch.randint(0, 200, (len(rows), 7)))
        assert torch.equal(ours, peft), rows


def test_a_batch_mixing_adapters_and_the_base_matches_peft_row_by_row(cache_with_adapters):
    cache, (a, b, qv) = cache_with_adapters
    rows = [a, BASE_ADAPTER, b, qv, a, b]
    ids = torch.randint(0, 200, (len(rows), 5))
    ours, peft = both(cache, rows, ids)
    torch.testing.assert_close(ours, peft, rtol=1e-4, atol=1e-4)
    alone, _ = both(cache, [qv], ids[3:4])
    torch.testing.assert_close(ours[3:4], alone, rtol=1e-4, atol=1e-4)


def test_deleting_an_adapter_drops_the_stacked_copies(cache_with_adapters):
    cache, (a, b, qv) = cache_with_adapters
    both(cache, [a, b], torch.randint(0, 200, (2, 3)))
    layers = [m for m in cache.peft_model.modules() if "_engine_stack" in m.__dict__]
    assert layers, "a mixed batch stacks its adapters"
    cache.release(a)
    cache.forget("a")
    assert not any("_engine_stack" in m.__dict__ for m in layers)


def test_outside_forward_the_hooks_leave_peft_alone(cache_with_adapters):
    cache, (a, b, qv) = cache_with_adapters
    ids = torch.randint(0, 200, (1, 4))
    cache.peft_model.set_adapter(b)
    with torch.no_grad():
        active = cache.peft_model(input_ids=ids).logits
        ours, _ = both(cache, [b], ids)
    assert torch.equal(active, ours)
