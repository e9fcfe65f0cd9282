"""One byte-level BPE vocabulary for both demo checkpoints, dressed per chat format.

DeepSeek-R1-Distill-Llama keeps Llama 3.1's vocabulary and renames the control tokens; the demos
do the same. The BPE is trained once with every control token of every format; each checkpoint's
tokenizer then names its own control tokens and calls the other format's
`<|reserved_special_token_N|>`, so both share the ids of ordinary text and one network can serve
both.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from .formats import ChatFormat

VOCAB_SIZE = 1536  # before the added (non-special) tokens such as <think>
CONTEXT = 1024


def train_bpe(texts: Iterable[str], formats: Iterable[ChatFormat]) -> Tokenizer:
    """Byte-level BPE (any text encodes) with one token per digit, so sums are learnable."""
    formats = list(formats)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = [t for f in formats for t in f.special]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  min_frequency=2, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for f in formats for t in f.added])
    return tok


def for_format(bpe: Tokenizer, fmt: ChatFormat) -> PreTrainedTokenizerFast:
    """The shared vocabulary with `fmt`'s control tokens named and everyone else's reserved."""
    data = json.loads(bpe.to_str())
    vocab = data["model"]["vocab"]
    reserved = 0
    for added in data["added_tokens"]:
        name = added["content"]
        if name in fmt.special or name in fmt.added:
            added["special"] = name in fmt.special
            continue
        added["content"], added["special"] = f"<|reserved_special_token_{reserved}|>", True
        reserved += 1
        if name in vocab:
            vocab[added["content"]] = vocab.pop(name)
    tok = Tokenizer.from_str(json.dumps(data))
    # Like the real tokenizers, plain tokenizer(text) prepends BOS; chat templates write it
    # themselves and apply_chat_template encodes without special tokens.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{fmt.bos} $A", pair=f"{fmt.bos} $A {fmt.bos} $B",
        special_tokens=[(fmt.bos, tok.token_to_id(fmt.bos))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=fmt.bos, eos_token=fmt.eos, pad_token=fmt.pad,
        chat_template=fmt.chat_template, model_max_length=CONTEXT, clean_up_tokenization_spaces=False)


def save(tok: PreTrainedTokenizerFast, fmt: ChatFormat, out: Path) -> None:
    """Save in the layout of the real checkpoints: the chat template inside tokenizer_config.json."""
    tok.save_pretrained(out)
    (out / "chat_template.jinja").unlink(missing_ok=True)  # transformers 5 writes it apart
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    # The generic fast class: loads with any recent transformers, not only the one that built it.
    cfg.update(tokenizer_class="PreTrainedTokenizerFast", chat_template=fmt.chat_template,
               add_bos_token=True, add_eos_token=False)
    # A tokenizer loaded from disk (a resumed build) writes how it was loaded and a copy of
    # special_tokens_map.json's list: keep the layout of a fresh build.
    for key in ("is_local", "local_files_only", "extra_special_tokens"):
        cfg.pop(key, None)
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    others = [t for t in fmt.special if t not in (fmt.bos, fmt.eos, fmt.pad)]
    specials = {"bos_token": fmt.bos, "eos_token": fmt.eos, "pad_token": fmt.pad,
                "additional_special_tokens": others}
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2, ensure_ascii=False) + "\n")
