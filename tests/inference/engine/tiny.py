"""The one tiny model of the engine tests: a byte-level tokenizer with Llama-3.1's special tokens and chat
template, a 2-layer random Llama, on disk as a checkpoint or in memory, and LoRA on top.

Everything is built here (no download) and seeded, so two builds give bitwise identical weights, and it
is small enough for a whole engine test run on two CPU cores. conftest.py turns it into fixtures.
"""
from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

# Tiny matrices: a second thread only adds OpenMP hand-offs, and on a shared 2-core machine it waits
# for a busy core (measured 5 ms vs 200+ ms per forward).
torch.set_num_threads(1)

BASE = "tiny"  # its name in an engine's catalog
CONTEXT = 256
SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
# Llama-3.1-Instruct's template, minus the tools and date preamble.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # the API's "qkvo_ffn"


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE without merges: one token per byte (so characters span several tokens), plus
    Llama-3's special tokens; eos is <|eot_id|> as in Llama-3.1-Instruct."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for tok in SPECIALS:
        vocab[tok] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIALS))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", chat_template=CHAT_TEMPLATE
    )


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    """A 2-layer Llama (hidden 64), in eval mode."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=CONTEXT,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.convert_tokens_to_ids("<|end_of_text|>"),
        tie_word_embeddings=False,
        initializer_range=0.1,  # peakier logits than the default: greedy ties are unlikely
    )
    return LlamaForCausalLM(config).eval()


def build_checkpoint(path: Path, seed: int = 0) -> Path:
    """The tiny Llama with its tokenizer and generation config, as a safetensors checkpoint directory."""
    tokenizer = tiny_tokenizer()
    model = tiny_llama(tokenizer, seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    stop = tokenizer.convert_tokens_to_ids(["<|end_of_text|>", "<|eot_id|>"])
    GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=stop).save_pretrained(path)
    return path


def lora_config(*, random_b: bool = False, dropout: float = 0.0) -> LoraConfig:
    """LoRA rank 4 on every projection; random_b makes the adapter differ from its base."""
    return LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, init_lora_weights=not random_b,
                      target_modules=PROJECTIONS)


def tiny_peft(adapters: tuple[str, ...] = ("user1", "user2"), seed: int = 0,
              dropout: float = 0.0) -> tuple[PeftModel, PreTrainedTokenizerFast]:
    """The tiny Llama wrapped in PEFT with the named adapters; the first starts at zero B (a fresh
    user model), the others random (already trained ones), so they are distinguishable."""
    tokenizer = tiny_tokenizer()
    base = tiny_llama(tokenizer, seed=seed)
    torch.manual_seed(seed + 1)
    model = get_peft_model(base, lora_config(dropout=dropout), adapter_name=adapters[0])
    for name in adapters[1:]:
        model.add_adapter(name, lora_config(random_b=True, dropout=dropout))
    model.set_adapter(adapters[0])
    return model.eval(), tokenizer
