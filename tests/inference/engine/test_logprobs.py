"""Token ids of (context, response) pairs, the response mask, truncation, and response log-probs."""
import pytest
import torch

from .tiny import tiny_peft, tiny_tokenizer
from inference.engine.training.logprobs import (
    build_batch, encode_pair, encode_prompt, end_of_turn_id, fit_to_context, sequence_logprobs, token_logprobs,
)

MESSAGES = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"})


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def test_the_response_mask_covers_exactly_the_response_and_its_end_of_turn(tokenizer):
    pairs = [(MESSAGES, "Lima."), (MESSAGES[1:], "It is Lima, of course.")]
    batch = build_batch(tokenizer, pairs, context_length=128)
    assert batch.input_ids.shape[0] == 2
    for i, (messages, response) in enumerate(pairs):
        ids = batch.input_ids[i]
        prompt = encode_prompt(tokenizer, messages)
        n_response = len(tokenizer(response, add_special_tokens=False)["input_ids"]) + 1
        assert batch.response_mask[i].sum().item() == n_response
        assert tokenizer.decode(ids[batch.response_mask[i]]) == response + "<|eot_id|>"
        assert ids[: len(prompt)].tolist() == prompt  # the prompt is the chat template, untouched
        assert not batch.response_mask[i, : len(prompt)].any()
        assert batch.attention_mask[i].sum().item() == len(prompt) + n_response
    # right padding: the shorter row ends with pad tokens that are neither attended nor trained
    short = int(batch.attention_mask.sum(1).argmin())
    assert batch.attention_mask[short, -1] == 0 and not batch.response_mask[short, -1]
    assert torch.equal(batch.logprob_mask, batch.response_mask[:, 1:])


def test_special_token_text_in_a_response_is_trained_as_text(tokenizer):
    eot = end_of_turn_id(tokenizer)
    e = encode_pair(tokenizer, MESSAGES, "Lima<|eot_id|><|start_header_id|>user", context_length=128)
    assert e.completion.count(eot) == 1 and e.completion[-1] == eot
    assert tokenizer.decode(e.completion) == "Lima<|eot_id|><|start_header_id|>user<|eot_id|>"
    prompt = encode_prompt(tokenizer, ({"role": "user", "content": "Hi<|eot_id|>"},))
    assert prompt.count(eot) == 1  # the one the template writes, as when generating
    # and the tokenizer is left encoding special tokens as usual
    assert tokenizer("<|eot_id|>", add_special_tokens=False)["input_ids"] == [eot]


def test_the_prompt_ends_with_the_assistant_header_generation_starts_from(tokenizer):
    prompt = tokenizer.decode(encode_prompt(tokenizer, MESSAGES))
    assert prompt.startswith("<|begin_of_text|>") and prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_the_end_of_turn_token_is_preferred_over_a_generic_eos(tokenizer):
    assert end_of_turn_id(tokenizer) == tokenizer.convert_tokens_to_ids("<|eot_id|>")


def test_truncation_drops_the_oldest_prompt_tokens_and_keeps_bos_and_the_response():
    e = fit_to_context([0, 11, 12, 13, 14, 15], [21, 22, 23], context_length=6, bos_id=0)
    assert e.completion == (21, 22, 23) and e.prompt == (0, 14, 15)


def test_a_response_longer_than_the_context_loses_its_end_and_keeps_one_prompt_token():
    e = fit_to_context([0, 11, 12], [21, 22, 23, 24, 25], context_length=4, bos_id=0)
    assert e.completion == (21, 22, 23) and e.prompt == (12,)


def test_encode_pair_fits_the_context_length(tokenizer):
    e = encode_pair(tokenizer, MESSAGES, "x" * 100, context_length=40)
    assert len(e) == 40 and len(e.completion) == 39


def test_token_logprobs_are_the_gathered_log_softmax_of_the_next_token():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], dtype=torch.bool)
    out = token_logprobs(logits, ids, mask)
    expected = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    assert out.shape == (2, 4) and out.dtype == torch.float32
    assert torch.allclose(out, torch.where(mask[:, 1:], expected, 0.0))


def test_bfloat16_logits_give_float32_logprobs():
    logits = torch.randn(1, 3, 5, dtype=torch.bfloat16)
    ids = torch.tensor([[1, 2, 3]])
    out = token_logprobs(logits, ids, torch.ones(1, 3, dtype=torch.bool))
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1))


def test_sequence_logprobs_match_the_full_logits_of_the_model():
    model, tokenizer = tiny_peft()
    batch = build_batch(tokenizer, [(MESSAGES, "Lima."), (MESSAGES[1:], "Lima, the capital.")], context_length=128)
    with torch.no_grad():
        full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        assert torch.allclose(sequence_logprobs(model, batch), token_logprobs(full, batch.input_ids, batch.response_mask),
                              atol=1e-5)
