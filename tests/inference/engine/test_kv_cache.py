"""GrowableLayer behaves like transformers' DynamicLayer, without a full copy per update."""
import torch
from transformers.cache_utils import DynamicLayer

from inference.engine.serving import kv_cache
from inference.engine.serving.kv_cache import GrowableLayer


def test_a_growable_layer_holds_what_a_dynamic_layer_holds_through_updates_and_edits(monkeypatch):
    monkeypatch.setattr(kv_cache, "CHUNK", 3)  # grow often
    gen = torch.Generator().manual_seed(0)
    ours, theirs = GrowableLayer(), DynamicLayer()
    for n in (5, 1, 1, 1, 4, 1):
        k, v = torch.randn(3, 2, n, 4, generator=gen), torch.randn(3, 2, n, 4, generator=gen)
        got, want = ours.update(k, v), theirs.update(k.clone(), v.clone())
        assert all(torch.equal(a, b) for a, b in zip(got, want))
        assert ours.get_seq_length() == theirs.get_seq_length()
    for layer in (ours, theirs):
        layer.batch_select_indices(torch.tensor([2, 0]))
        layer.crop(-2)
    assert torch.equal(ours.keys, theirs.keys) and torch.equal(ours.values, theirs.values)
    one = torch.ones(2, 2, 1, 4)
    ours.update(one, one)  # the edits left an exact-size tensor: this grows it by CHUNK
    buffer = ours._k.data_ptr()
    ours.update(one, one)
    assert ours._k.data_ptr() == buffer, "an update with room left writes in place"
    assert ours.get_seq_length() == theirs.get_seq_length() + 2
