"""Per-row sampler controls: penalties, logit bias, grammars and log-probabilities, in a batch that
mixes controlled and free rows (free rows keep exactly their greedy tokens)."""
import json
import math

import jsonschema

import torch

from inference.engine.serving.controls import RowControls, apply_controls
from inference.engine.structured import json_grammar
from inference.engine.types import SamplingParams

from .conftest import Stream, request
from .test_batching import outputs, run_together

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}, "size": {"enum": ["S", "M", "L"]}},
          "required": ["ok", "size"], "additionalProperties": False}
GRAMMAR = json_grammar(SCHEMA)


def test_penalties_and_bias_change_only_their_rows_by_openais_formula():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [4.0, 0.0, -1.0]])  # (B=3, V=3)
    counts = torch.tensor([2.0, 0.0, 1.0])
    penalty = RowControls(presence=0.5, frequency=0.25, counts=counts)
    bias = RowControls(bias=torch.tensor([0.0, 10.0, -100.0]))
    out = apply_controls(logits, [0, 2], [penalty, bias])
    # logit - count * frequency - (count > 0) * presence
    assert torch.equal(out[0], torch.tensor([1.0 - 0.5 - 0.5, 2.0, 3.0 - 0.25 - 0.5]))
    assert torch.equal(out[1], logits[1]), "a row without controls is copied untouched"
    assert torch.equal(out[2], torch.tensor([4.0, 10.0, -101.0]))


def test_a_constrained_row_returns_schema_valid_json_next_to_free_rows_that_keep_their_tokens(engine):
    free = [request("Hello there", request_id="free", max_tokens=20),
            request("Hi", request_id="free2", max_tokens=20, temperature=0.9, seed=3)]
    controlled = [request("Hello there", request_id="json", max_tokens=60, grammar=GRAMMAR, n=2, temperature=1.0, seed=1),
                  request("Hi", request_id="lp", max_tokens=8, logprobs=3, frequency_penalty=1.5, presence_penalty=1.0,
                          logit_bias=((65, 5.0),))]
    alone = [outputs(run_together(engine, [r]))[0] for r in free]
    streams = run_together(engine, free + controlled)
    assert outputs(streams[:2]) == alone
    for index in (0, 1):
        text = streams[2].text(index)
        assert streams[2].finished(index).finish_reason == "stop", text
        jsonschema.validate(json.loads(text), SCHEMA)


def test_logprobs_describe_each_token_of_the_text(run):
    stream = run("Hello there", max_tokens=10, logprobs=2)
    tokens = [t for e in stream.events if e.kind == "delta" for t in e.logprobs]
    # one entry per generated token (EOS aside); this tokenizer splits characters into bytes, so a
    # token's own text may be a replacement character
    assert len(tokens) in (stream.finished().completion_tokens, stream.finished().completion_tokens - 1)
    assert all(t.token for t in tokens)
    for t in tokens:
        assert len(t.top) == 2 and t.top[0].logprob >= t.top[1].logprob
        assert t.logprob <= 0 and math.isclose(t.logprob, t.top[0].logprob, abs_tol=1e-5), "greedy takes the top token"


def test_logit_bias_forces_and_forbids_tokens(run):
    forced = run("Hello there", max_tokens=3, logit_bias=((65, 100.0),))  # byte 'b' (alphabet index 65)
    assert forced.text() == forced.text()[0] * 3
    plain = run("Hello there", max_tokens=3)
    first = plain.events[0].text[0]
    from .tiny import tiny_tokenizer
    banned = tiny_tokenizer().convert_tokens_to_ids(first if first != " " else "Ġ")
    assert not run("Hello there", max_tokens=3, logit_bias=((banned, -100.0),)).text().startswith(first)


def test_an_invalid_grammar_fails_the_request_with_a_clear_error(engine):
    stream = Stream()
    engine.submit(request("Hi", grammar='{"grammars": [{"lark_grammar": "start: nope"}]}'), stream)
    assert stream.wait().last.kind == "failed" and "grammar" in stream.last.message


def test_free_requests_have_no_row_controls():
    assert not SamplingParams().controlled
    assert SamplingParams(logprobs=0).controlled
