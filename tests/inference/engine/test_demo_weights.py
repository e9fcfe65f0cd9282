"""The built-in demo checkpoints load offline and behave like the chat models they stand in for."""
import json
import re
import threading
from functools import cache
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from inference.engine import defaults
from inference.engine.config import EngineConfig
from inference.engine.demo import DEMO_CHECKPOINTS, WEIGHTS_DIR
from inference.engine.serving.engine import Engine
from inference.engine.types import GenerationRequest, SamplingParams

LLAMA = DEMO_CHECKPOINTS["Llama-3.1-8b"]
R1 = DEMO_CHECKPOINTS["DeepSeek-R1-8b"]
BOTH = pytest.mark.parametrize("path", [LLAMA, R1], ids=["llama", "r1"])


@cache
def load(path: Path):
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True)
    return tok, model.eval()


@torch.no_grad()
def generate(path: Path, prompt: str, max_new_tokens: int = 64) -> tuple[str, list[int]]:
    """Greedy reply to one user message: (decoded text without control tokens, new token ids)."""
    tok, model = load(path)
    enc = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, enc["input_ids"].shape[1]:].tolist()
    return tok.decode(new, skip_special_tokens=True), new


def answer_part(text: str) -> str:
    """The visible answer: for the R1 stand-in, what follows its thinking."""
    return text.split("</think>")[-1].strip()


def test_both_demo_checkpoints_together_stay_within_25_mb():
    size = sum(f.stat().st_size for f in WEIGHTS_DIR.rglob("*") if f.is_file())
    assert size <= 25_000_000, f"demo weights take {size / 1e6:.1f} MB, the limit is 25 MB"


@BOTH
def test_a_checkpoint_is_a_standard_llama_directory_without_pickles(path):
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["max_position_embeddings"] == 1024
    assert not [f.name for f in path.iterdir() if f.suffix in (".bin", ".pt", ".pth", ".pkl")]
    assert "chat_template" in json.loads((path / "tokenizer_config.json").read_text())
    tok, model = load(path)
    assert model.dtype == torch.float32
    assert model.generation_config.eos_token_id == tok.eos_token_id == config["eos_token_id"]
    assert config["bos_token_id"] == tok.bos_token_id and config["pad_token_id"] == tok.pad_token_id
    assert tok.pad_token_id not in (tok.bos_token_id, tok.eos_token_id)


def test_the_llama_template_renders_system_and_multi_turn_messages():
    tok, _ = load(LLAMA)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2 + 2?"}]
    assert tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n2 + 2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_the_r1_template_drops_earlier_thoughts_and_opens_a_new_one():
    tok, _ = load(R1)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "<think>\nA greeting.\n</think>\n\nHello!"},
                {"role": "user", "content": "2 + 2?"}]
    assert tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == (
        "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>"
        "<｜User｜>2 + 2?<｜Assistant｜><think>\n")


@BOTH
def test_a_greeting_gets_a_reply_made_of_readable_words(path):
    text, _ = generate(path, "Hello!")
    answer = answer_part(text)
    assert re.fullmatch(r"[A-Za-z][A-Za-z ,.!?']+", answer), answer
    assert len(answer.split()) >= 2 and re.search(r"\b(hello|hi|help)\b", answer.lower()), answer


# The demo gets small sums and products right more often than not (not always: room for the reward
# training to improve it); these it answers right in both formats, so a broken load, template or
# tokenizer shows up as a wrong number.
@BOTH
@pytest.mark.parametrize("prompt, result", [("What is 8 + 0?", "8"), ("What is 4 * 0?", "0"), ("What is 2 + 3?", "5"),
                                            ("What is 9 + 6?", "15"), ("What is 20 - 8?", "12"),
                                            ("What is 8 times 9?", "72")])
def test_easy_arithmetic_gets_the_right_result(path, prompt, result):
    text, _ = generate(path, prompt)
    assert re.search(rf"= {result}\.", answer_part(text)), text


@BOTH
@pytest.mark.parametrize("question, fact", [("What is the capital of France?", "Paris"),
                                            ("What is the capital of Italy?", "Rome"),
                                            ("What color is the sky?", "blue")])
def test_a_visitors_first_questions_get_the_right_fact(path, question, fact):
    text, _ = generate(path, question)
    assert fact in answer_part(text), text


def test_the_r1_stand_in_thinks_then_answers():
    tok, _ = load(R1)
    question = "What is the capital of Japan?"
    prompt = tok.apply_chat_template([{"role": "user", "content": question}],
                                     add_generation_prompt=True, tokenize=False)
    text, _ = generate(R1, question)
    # The generation prompt opens the thinking block, as the real R1 template does.
    full = prompt[prompt.rindex("<think>"):] + text
    match = re.fullmatch(r"<think>\n(.+?)\n</think>\n\n(.+)", full, re.DOTALL)
    assert match, full
    assert match.group(1).strip() and "Tokyo" in match.group(2)


@BOTH
@pytest.mark.parametrize("prompt", ["Hi", "Thanks!", "What is 4 + 4?"])
def test_a_short_reply_stops_at_the_end_of_turn_token(path, prompt):
    tok, _ = load(path)
    _, new = generate(path, prompt, max_new_tokens=80)
    assert new[-1] == tok.eos_token_id and len(new) < 80


# The Train page samples its candidates at the model's own temperature and top p, which for a model
# made from a base are these defaults; 4 is its default number of candidates.
TRAIN_PAGE = dict(temperature=defaults.TEMPERATURE, top_p=defaults.TOP_P, n=4, max_tokens=128)


@torch.no_grad()
def chance_all_agree(path: Path, prompt: str, prefix: str = "", k: int = 4) -> float:
    """The chance that k samples at the Train page's settings pick the same next token after the
    generation prompt plus `prefix`: the sum of p^k over the tokens that temperature and top p keep."""
    tok, model = load(path)
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                   tokenize=False) + prefix
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    probs = torch.softmax(model(ids).logits[0, -1] / defaults.TEMPERATURE, dim=-1)
    sorted_probs, _ = probs.sort(descending=True)
    kept = sorted_probs[: int((sorted_probs.cumsum(0) < defaults.TOP_P).sum()) + 1]
    kept = kept / kept.sum()
    return float((kept ** k).sum())


# The answer's words up to the choice: the Llama stand-in's likeliest form, the R1 stand-in's thought.
CHOICE_PREFIXES = {LLAMA: ("How about", "How about a", "How about "),
                   R1: ("Any colour will do. I pick", "Any animal will do. I pick a", "Any number will do. I pick ")}


@pytest.mark.parametrize("which, prompt", enumerate(["Name a colour.", "Name an animal.", "Pick a number."]))
@BOTH
def test_a_request_with_many_good_answers_spreads_its_choice(path, which, prompt):
    """Four candidates at the Train page's defaults name the same colour (animal, number) with a chance
    under 15 % (it was 100 %: one memorised answer left nothing to rate). Computed from the model's
    next-token distribution where the answer names its choice, so the test does not depend on a draw."""
    assert chance_all_agree(path, prompt, CHOICE_PREFIXES[path][which]) < 0.15


@BOTH
def test_the_engine_samples_varied_candidates_for_name_a_colour_at_the_train_pages_defaults(path):
    engine = Engine({"demo": str(path)}, EngineConfig(device="cpu", cpu_threads=1))
    events, done = [], threading.Event()

    def collect(event):
        events.append(event)
        if event.kind in ("done", "failed"):
            done.set()

    try:
        engine.submit(GenerationRequest(request_id="colour", base="demo", params=SamplingParams(seed=7, **TRAIN_PAGE),
                                        messages=({"role": "user", "content": "Name a colour."},)), collect)
        assert done.wait(60), events
    finally:
        engine.shutdown()
    answers = ["".join(e.text for e in events if e.kind == "delta" and e.index == i) for i in range(4)]
    assert all(answer_part(a) for a in answers), events[-1]
    assert len({answer_part(a) for a in answers}) >= 2, answers
