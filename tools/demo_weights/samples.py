"""Print what the demo checkpoints answer to a visitor's first questions, and how often sums are right.

    python -m tools.demo_weights.samples [--dir DIR ...] [--arithmetic 200]

Greedy decoding, so the output is what `temperature=0` would give in the Playground.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from inference.engine.demo import DEMO_CHECKPOINTS

PROMPTS = [
    "Hello!", "hi", "How are you?", "Who are you?", "What can you do?", "What is 2 + 3?",
    "What is 17 + 25?", "what's 45 - 18", "What is 7 times 8?", "What is the capital of France?",
    "What colour is the sky?", "Say hello in French", "Count to five", "Spell cat",
    "Is snow hot?", "What is the opposite of big?", "Tell me a joke", "Explain quantum physics",
    "Thanks!", "Bye",
]


def load(path: Path):
    """Tokenizer and fp32 model of a checkpoint directory, ready for CPU generation."""
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True)
    return tok, model.eval()


@torch.no_grad()
def reply(tok, model, messages: list[dict], max_new_tokens: int = 96) -> str:
    """The greedy reply to `messages`, special tokens removed (<think> tags stay: they are text)."""
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def arithmetic_accuracy(tok, model, n: int, seed: int = 7) -> dict[str, float]:
    """Share of random sums, differences and products whose reply contains the right result."""
    r = random.Random(seed)
    right = {"+": 0, "-": 0, "×": 0}
    for op in right:
        for _ in range(n):
            a, b = (r.randint(0, 99), r.randint(0, 99)) if op != "×" else (r.randint(0, 12), r.randint(0, 12))
            a, b = (max(a, b), min(a, b)) if op == "-" else (a, b)
            want = a + b if op == "+" else a - b if op == "-" else a * b
            text = reply(tok, model, [{"role": "user", "content": f"What is {a} {op.replace('×', '*')} {b}?"}])
            right[op] += f"= {want}." in text.split("</think>")[-1]
    return {op: k / n for op, k in right.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, action="append", help="checkpoint dir(s); default: both demos")
    parser.add_argument("--arithmetic", type=int, default=0, help="problems per operation to score")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    for path in args.dir or DEMO_CHECKPOINTS.values():
        tok, model = load(path)
        print(f"===== {path.name}")
        for prompt in PROMPTS:
            print(f"> {prompt}\n{reply(tok, model, [{'role': 'user', 'content': prompt}])}\n")
        chat = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "My name is Ada."}]
        chat.append({"role": "assistant", "content": reply(tok, model, chat)})
        chat.append({"role": "user", "content": "What is the capital of Japan?"})
        chat.append({"role": "assistant", "content": reply(tok, model, chat)})
        chat.append({"role": "user", "content": "What is my name?"})
        chat.append({"role": "assistant", "content": reply(tok, model, chat)})
        for m in chat:
            print(f"[{m['role']}] {m['content']}")
        if args.arithmetic:
            print(f"arithmetic accuracy: {arithmetic_accuracy(tok, model, args.arithmetic)}")


if __name__ == "__main__":
    main()
