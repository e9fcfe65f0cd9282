"""Continuous batching: rows of different adapters, and rows that join mid-generation, decode
together and get exactly the greedy tokens they get alone."""
import pytest

from .conftest import Stream, request, submitted_together


def assert_invariants(batch) -> None:
    """A RunningBatch's invariants (this syncs with the device, so the engine never checks them itself)."""
    import torch

    if not batch.rows:
        assert batch.cache is None and batch.mask is None
        return
    B, T = batch.mask.shape
    assert B == len(batch.rows) == batch.positions.shape[0] == batch.next_tokens.shape[0]
    for layer in batch.cache.layers:
        assert layer.keys.shape[0] == B and layer.keys.shape[2] == T, (layer.keys.shape, B, T)
    assert torch.equal(batch.positions, batch.mask.sum(dim=1)), (batch.positions, batch.mask.sum(dim=1))
    assert bool(batch.mask[:, -1].all()), "the last column is always a real token"

PROMPTS = ("Hello there", "Write a haiku about tigers, please", "Hi")


def run_together(engine, reqs):
    """Submit requests so that they reach the engine loop in the same step."""
    streams = [Stream() for _ in reqs]
    with submitted_together(engine._loop("tiny")):
        for req, stream in zip(reqs, streams):
            engine.submit(req, stream)
    return [s.wait() for s in streams]


def outputs(streams):
    return [(s.text(), s.finished().completion_tokens) for s in streams]


def test_greedy_output_of_a_revision_zero_adapter_equals_the_bases(run, adapter_factory):
    fresh = adapter_factory("fresh")
    assert run("Hello there", max_tokens=24).text() == run("Hello there", max_tokens=24, adapter=fresh).text()


def test_two_adapters_batched_together_give_the_same_greedy_tokens_as_each_alone(engine, run, adapter_factory):
    a, b = adapter_factory("a", seed=1), adapter_factory("b", seed=2)
    reqs = [request(PROMPTS[0], request_id="a", adapter=a, max_tokens=24),
            request(PROMPTS[1], request_id="b", adapter=b, max_tokens=24)]
    alone = [outputs(run_together(engine, [r]))[0] for r in reqs]
    assert alone[0] != outputs([run(PROMPTS[0], max_tokens=24)])[0], "adapter a should differ from the base"

    together = outputs(run_together(engine, reqs))
    assert together == alone
    assert engine.stats("tiny")["max_rows"] == 2


def test_the_base_and_two_adapters_in_one_batch_match_each_alone(engine, adapter_factory):
    a, b = adapter_factory("a", seed=1), adapter_factory("b", seed=2)
    reqs = [request(PROMPTS[0], request_id="a", adapter=a, max_tokens=20),
            request(PROMPTS[0], request_id="base", max_tokens=20),
            request(PROMPTS[2], request_id="b", adapter=b, max_tokens=20)]
    alone = [outputs(run_together(engine, [r]))[0] for r in reqs]
    assert len({text for text, _ in alone[:2]}) == 2, "same prompt, adapter vs base: different text"
    assert outputs(run_together(engine, reqs)) == alone


@pytest.mark.parametrize("packed_tokens", [256, 0], ids=["inside-the-decode-step", "a-forward-of-their-own"])
def test_a_request_joining_mid_generation_gets_the_same_greedy_tokens_as_alone(make_engine, adapter_factory, packed_tokens):
    engine = make_engine(packed_prefill_tokens=packed_tokens)
    a = adapter_factory("a", seed=1)
    first = request(PROMPTS[0], request_id="first", adapter=a, max_tokens=30)
    # One joiner longer than the running rows' cache, one shorter: both sides get left-padded.
    joiners = [request(PROMPTS[1] * 3, request_id="long", max_tokens=16),
               request(PROMPTS[2], request_id="short", adapter=a, max_tokens=40)]
    alone = [outputs(run_together(engine, [r]))[0] for r in [first, *joiners]]
    assert [tokens for _, tokens in alone] == [30, 16, 40], "every request runs to max_tokens"

    worker = engine._loops["tiny"]
    joined = [Stream() for _ in joiners]
    start, packed = worker.stats["decode_steps"], worker.stats["packed_prefills"]

    class JoinAfterFourSteps(Stream):
        joined = False

        def __call__(self, event):
            super().__call__(event)
            assert_invariants(worker.batch)  # invariants hold whenever an event goes out
            if not self.joined and worker.stats["decode_steps"] - start >= 4:
                self.joined = True  # submitted from the engine thread: they join the next step
                for req, stream in zip(joiners, joined):
                    engine.submit(req, stream)

    lead = JoinAfterFourSteps()
    engine.submit(first, lead)
    results = [lead.wait(), *(s.wait() for s in joined)]
    assert outputs(results) == alone
    assert engine.stats("tiny")["max_rows"] == 3
    assert worker.stats["packed_prefills"] - packed == (2 if packed_tokens else 0)
    assert len(worker.batch) == 0 and worker.batch.cache is None


def test_n_candidates_are_rows_of_one_request_with_their_own_index(run):
    stream = run("Tell me a story", n=3, temperature=1.0, seed=5, max_tokens=10)
    texts = [stream.text(i) for i in range(3)]
    assert len(set(texts)) == 3
    assert [stream.finished(i).finish_reason for i in range(3)] == ["length"] * 3
    assert stream.last.kind == "done" and stream.last.completion_tokens == 30
    # Candidate i is seeded seed + i: candidate 1 of seed 5 is candidate 0 of seed 6.
    assert run("Tell me a story", temperature=1.0, seed=6, max_tokens=10).text() == texts[1]


def test_rows_leaving_the_batch_take_their_padding_columns_with_them():
    import torch
    from transformers import DynamicCache

    from inference.engine.serving.batch import Join, RunningBatch

    def prefilled(length, n_rows, fill):
        kv = torch.full((1, 2, length, 4), float(fill))  # (1, H, P, D)
        return Join(cache=DynamicCache(ddp_cache_data=[(kv, kv.clone())] * 2), rows=[object()] * n_rows,
                    next_tokens=[fill] * n_rows)

    batch = RunningBatch(torch.device("cpu"))
    batch.add([prefilled(3, 1, 1)])
    batch.add([prefilled(7, 2, 2), prefilled(5, 1, 3)])  # two candidates of one prompt, one other prompt
    assert_invariants(batch)
    assert batch.length == 7 and batch.positions.tolist() == [3, 7, 7, 5]
    assert batch.mask.tolist()[0] == [0, 0, 0, 0, 1, 1, 1]
    keys = batch.cache.layers[0].keys  # (B, H, T, D)
    assert keys[0, :, :4].abs().sum() == 0 and bool((keys[0, :, 4:] == 1).all())
    assert bool((keys[3, :, 2:] == 3).all())

    batch.keep([0, 3])  # the long rows leave: columns only they used go too
    assert_invariants(batch)
    assert batch.length == 5 and batch.positions.tolist() == [3, 5] and batch.next_tokens.tolist() == [1, 3]
    batch.keep([])
    assert_invariants(batch)
    assert len(batch) == 0 and batch.cache is None


def test_a_batch_rebuilt_by_a_join_or_a_leave_takes_its_next_steps_in_place():
    """Rows join and leave almost every step under many users: the rebuilt cache keeps room, so a
    decode step writes its column instead of copying the whole cache again to grow it."""
    import torch
    from transformers import DynamicCache

    from inference.engine.serving.batch import Join, RunningBatch
    from inference.engine.serving.kv_cache import ROOM

    def prefilled(length, fill):
        kv = torch.full((1, 2, length, 4), float(fill))
        return Join(cache=DynamicCache(ddp_cache_data=[(kv, kv.clone())] * 2), rows=[object()], next_tokens=[fill])

    def steps(batch, count):
        buffers = [layer._k.data_ptr() for layer in batch.cache.layers]
        for i in range(count):
            inputs = batch.step_inputs()
            column = torch.full((len(batch), 2, 1, 4), 9.0)
            for layer in batch.cache.layers:  # what the model's attention layers do in a forward
                keys, _ = layer.update(column, column.clone())
            batch.commit_step(inputs["attention_mask"], inputs["input_ids"][:, 0])
            assert_invariants(batch)
            assert [layer._k.data_ptr() for layer in batch.cache.layers] == buffers, f"step {i} copied the cache"
            assert bool((keys[:, :, -1] == 9).all())

    batch = RunningBatch(torch.device("cpu"))
    batch.add([prefilled(3, 1), prefilled(5, 2)])
    steps(batch, ROOM)
    batch.keep([0])  # the longer prompt leaves: the columns only it used go too
    assert batch.length == 3 + ROOM
    steps(batch, ROOM)


def test_greedy_output_equals_transformers_generate(run, checkpoint_dir):
    import torch

    from inference.engine.chat import render_prompt
    from inference.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(str(checkpoint_dir), device="cpu")
    prompt = render_prompt(ckpt.tokenizer, [{"role": "user", "content": PROMPTS[1]}])
    with torch.no_grad():
        out = ckpt.model.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False,
                                  eos_token_id=sorted(ckpt.eos_token_ids), pad_token_id=0)
    new = [t for t in out[0, len(prompt):].tolist() if t not in ckpt.eos_token_ids]
    assert run(PROMPTS[1], max_tokens=24).text() == ckpt.tokenizer.decode(new, skip_special_tokens=True)


def test_prompts_prefilled_together_get_the_caches_and_logits_each_gets_alone(engine, adapter_factory, run):
    import torch

    from inference.engine.chat import render_prompt

    a = adapter_factory("a", seed=1)
    run("warm", max_tokens=1, adapter=a)  # weights and adapter loaded
    worker = engine._loop("tiny")
    name = worker.adapters.acquire(a)
    try:
        prompts = [render_prompt(worker.checkpoint.tokenizer, [{"role": "user", "content": p}]) for p in PROMPTS]
        names = [name, "__base__", name]
        with submitted_together(worker):
            caches, logits = worker.runner.prefill_many(prompts, names)
            alone = [worker.runner.prefill(p, n) for p, n in zip(prompts, names)]
    finally:
        worker.adapters.release(name)
    assert len({len(p) for p in prompts}) == 3  # different lengths: padding is exercised
    for cache, row, (cache1, logits1), prompt in zip(caches, logits, alone, prompts):
        assert cache.get_seq_length() == len(prompt)
        for layer, layer1 in zip(cache.layers, cache1.layers):
            assert torch.allclose(layer.keys, layer1.keys, atol=1e-5) and torch.allclose(layer.values, layer1.values, atol=1e-5)
        assert torch.allclose(row, logits1[0], atol=1e-4) and row.argmax() == logits1[0].argmax()


def test_prompts_packed_into_a_decode_step_get_what_the_step_and_their_own_prefills_give(engine, adapter_factory, run):
    """Arrivals ride along with the running batch's decode step (one forward): the running rows get
    the logits and cache column a decode step gives them, each prompt the cache and logits of a
    prefill of its own; rows and prompts of different adapters and lengths."""
    from types import SimpleNamespace

    import torch

    from inference.engine.chat import render_prompt
    from inference.engine.serving.batch import Join, RunningBatch

    a, b = adapter_factory("a", seed=1), adapter_factory("b", seed=2)
    run("warm", max_tokens=1, adapter=a)
    run("warm", max_tokens=1, adapter=b)
    worker = engine._loop("tiny")
    runner = worker.runner
    prompts = [render_prompt(worker.checkpoint.tokenizer, [{"role": "user", "content": p}]) for p in PROMPTS]
    na, nb = worker.adapters.acquire(a), worker.adapters.acquire(b)
    try:
        running = [(prompts[0], na), (prompts[1], "__base__"), (prompts[2], nb)]
        newcomers = [(prompts[2], nb), (prompts[1], na)]

        def batch():
            rows = RunningBatch(torch.device("cpu"))
            joins = []
            for prompt, name in running:
                cache, logits = runner.prefill(prompt, name)
                row = SimpleNamespace(request=SimpleNamespace(adapter_name=name))
                joins.append(Join(cache=cache, rows=[row], next_tokens=[int(logits.argmax())]))
            rows.add(joins)
            return rows

        with submitted_together(worker):  # the engine thread waits for the lock meanwhile
            plain, packed = batch(), batch()
            logits, mask = runner.decode(plain)
            packed_logits, packed_mask, caches, first = runner.decode_and_prefill(
                packed, [p for p, _ in newcomers], [n for _, n in newcomers])
            alone = [runner.prefill(p, n) for p, n in newcomers]
    finally:
        worker.adapters.release(na)
        worker.adapters.release(nb)
    assert torch.equal(packed_mask, mask)
    assert torch.allclose(packed_logits, logits, atol=1e-5)
    assert packed_logits.argmax(-1).tolist() == logits.argmax(-1).tolist()
    for layer, layer1 in zip(packed.cache.layers, plain.cache.layers):  # the step's column included
        assert layer.keys.shape == layer1.keys.shape
        assert torch.allclose(layer.keys, layer1.keys, atol=1e-5) and torch.allclose(layer.values, layer1.values, atol=1e-5)
    for cache, row, (cache1, logits1), (prompt, _) in zip(caches, first, alone, newcomers):
        assert cache.get_seq_length() == len(prompt)
        for layer, layer1 in zip(cache.layers, cache1.layers):
            assert torch.allclose(layer.keys, layer1.keys, atol=1e-5) and torch.allclose(layer.values, layer1.values, atol=1e-5)
        assert torch.allclose(row, logits1[0], atol=1e-4) and row.argmax() == logits1[0].argmax()


def test_only_llama_attention_is_split_per_sequence_others_keep_prefills_of_their_own():
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from inference.engine.serving.ragged import RaggedAttention

    small = dict(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                 num_attention_heads=2, num_key_value_heads=1)
    assert RaggedAttention.supports(LlamaForCausalLM(LlamaConfig(**small)))
    assert not RaggedAttention.supports(Qwen2ForCausalLM(Qwen2Config(**small)))  # q/k/v with biases, its own class
