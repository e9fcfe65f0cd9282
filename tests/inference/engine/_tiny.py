"""A tiny random Llama, a byte-level tokenizer with a Llama-3-style chat template, and LoRA on top.

Used by the reward-training tests until the shared session fixture in conftest.py exists. Everything
is built in memory (no downloads) and seeded, so two calls give bitwise identical weights.
"""
from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

# Tiny matrices: a second thread only adds OpenMP hand-offs, and on a shared 2-core machine it waits
# for a busy core (measured 5 ms vs 200+ ms per forward). Tests that import this module run on one.
torch.set_num_threads(1)

SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>", "<|pad|>")

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """One token per byte (256) plus Llama-3's special tokens; eos is <|eot_id|> as in Llama-3.1-Instruct."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for tok in SPECIALS:
        vocab[tok] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIALS))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
        pad_token="<|pad|>", chat_template=CHAT_TEMPLATE,
    )


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    """A 2-layer Llama small enough to train in a second on a CPU core."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    return model.eval()


def lora_config(*, random_b: bool = False, dropout: float = 0.0) -> LoraConfig:
    """LoRA on every projection (the API's "qkvo_ffn"); random_b makes the adapter differ from its base."""
    return LoraConfig(
        r=4, lora_alpha=8, lora_dropout=dropout, init_lora_weights=not random_b,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )


def tiny_peft(adapters: tuple[str, ...] = ("user1", "user2"), seed: int = 0, dropout: float = 0.0) -> tuple[PeftModel, PreTrainedTokenizerFast]:
    """A tiny Llama wrapped in PEFT with the named adapters; the first starts at zero B (a fresh
    user model), the others random (already trained ones), so they are distinguishable."""
    tokenizer = tiny_tokenizer()
    base = tiny_llama(tokenizer, seed=seed)
    torch.manual_seed(seed + 1)
    model = get_peft_model(base, lora_config(dropout=dropout), adapter_name=adapters[0])
    for name in adapters[1:]:
        model.add_adapter(name, lora_config(random_b=True, dropout=dropout))
    model.set_adapter(adapters[0])
    return model.eval(), tokenizer
