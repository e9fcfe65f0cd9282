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


@pytest.mark.parametrize("bags_from_rank", [0, 1 << 30], ids=["stacks read in place", "rows' A and B gathered"])
def test_a_one_token_step_mixing_adapters_matches_peft_row_by_row(cache_with_adapters, adapter_factory, bags_from_rank):
    """One token per row (a decode step) has two paths, chosen by rank: both match peft."""
    cache, (a, b, qv) = cache_with_adapters
    cache.mixed.bags_from_rank = bags_from_rank
    # the same rank as a and b, another scaling: the rows' scalings differ within one stack
    c = cache.acquire(adapter_factory("c", seed=4, spec=LoraSpec(rank=4, alpha=2.0, dropout=0.0)))
    rows = [a, BASE_ADAPTER, b, qv, a, c, b]
    ids = torch.randint(0, 200, (len(rows), 1))
    ours, peft = both(cache, rows, ids)
    torch.testing.assert_close(ours, peft, rtol=1e-4, atol=1e-4)
    for i, name in enumerate(rows):
        alone, _ = both(cache, [name], ids[i:i + 1])
        torch.testing.assert_close(ours[i:i + 1], alone, rtol=1e-4, atol=1e-4)


def test_an_evicted_adapters_slot_serves_the_next_adapter_with_its_own_weights(cache_with_adapters, adapter_factory):
    cache, (a, b, qv) = cache_with_adapters
    rank2 = LoraSpec(rank=2, alpha=4.0, dropout=0.0, target_modules="qkvo_ffn")
    full = cache.acquire(adapter_factory("full", seed=5, spec=rank2))  # rank 2 on every layer
    both(cache, [full, qv], torch.randint(0, 200, (2, 3)))
    for name, key in ((qv, "qv"), (full, "full")):
        cache.release(name)
        cache.forget(key)
    # Takes the slot `full` had: on k/o/gate/up/down, which it does not wrap, that slot must add 0.
    other = cache.acquire(adapter_factory("qv2", seed=7, spec=LoraSpec(rank=2, alpha=4.0, dropout=0.0,
                                                                         target_modules="qv")))
    rows = [other, a, BASE_ADAPTER, other]
    ours, peft = both(cache, rows, torch.randint(0, 200, (len(rows), 4)))
    torch.testing.assert_close(ours, peft, rtol=1e-4, atol=1e-4)


def test_stacks_grow_past_their_first_slots_and_keep_every_adapters_weights(checkpoint_dir, adapter_factory):
    cache = AdapterCache(load_checkpoint(str(checkpoint_dir), device="cpu").model, capacity=8)
    names = [cache.acquire(adapter_factory(f"g{i}", seed=10 + i)) for i in range(7)]
    rows = names + [BASE_ADAPTER]
    ours, peft = both(cache, rows, torch.randint(0, 200, (len(rows), 3)))
    torch.testing.assert_close(ours, peft, rtol=1e-4, atol=1e-4)


def test_outside_forward_the_hooks_leave_peft_alone(cache_with_adapters):
    cache, (a, b, qv) = cache_with_adapters
    ids = torch.randint(0, 200, (1, 4))
    cache.peft_model.set_adapter(b)
    with torch.no_grad():
        active = cache.peft_model(input_ids=ids).logits
        ours, _ = both(cache, [b], ids)
    assert torch.equal(active, ours)
