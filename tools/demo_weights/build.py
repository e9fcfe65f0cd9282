"""Build the built-in demo checkpoints: corpus -> BPE tokenizer -> tiny Llama -> safetensors.

    python -m tools.demo_weights.build [--steps 8000] [--out DIR] [--threads 2] [--resume]

Generates the templated corpus in both chat formats (Llama 3.1 Instruct, DeepSeek-R1-Distill-Llama),
trains one byte-level BPE vocabulary on it, trains one ~2M-parameter LlamaForCausalLM on the
assistant replies of both formats for a fixed number of steps, and writes a standard Hugging Face
checkpoint directory per format that loads offline with AutoTokenizer / AutoModelForCausalLM
(safetensors, no remote code). The same command with the same --threads writes the same bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

# OpenMP threads that spin while they wait are 3x slower on a CPU shared with other work: let
# them sleep (read once, when torch loads its OpenMP runtime, so it must come first).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402

from inference.engine.demo import WEIGHTS_DIR  # noqa: E402
from . import corpus, tokenizer  # noqa: E402
from .formats import FORMATS, ChatFormat  # noqa: E402
from .train import Example, TrainConfig, train  # noqa: E402

SEED = 1234
N_DIALOGUES = 24_000  # per format: about what a short session gets through once; encoding is not free


def model_config(vocab_size: int) -> LlamaConfig:
    """The Llama 3 architecture at toy scale (grouped-query attention, SwiGLU, RoPE, RMSNorm)."""
    return LlamaConfig(
        vocab_size=vocab_size,
        # Small enough to see about a million tokens in its CPU budget: at this scale tokens
        # seen matter more than width.
        hidden_size=224,
        intermediate_size=448,  # 2 x hidden (the real models use ~3.5 x)
        num_hidden_layers=4,
        num_attention_heads=4,  # head_dim 56
        num_key_value_heads=2,  # grouped-query attention, like the real 8B models (32 / 8)
        max_position_embeddings=tokenizer.CONTEXT,
        rope_theta=500_000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,  # the embedding is a large share of so small a model
    )


def corpus_texts(dialogues: list[corpus.Dialogue]):
    """Every string the model will read or write, for the BPE trainer."""
    for d in dialogues:
        if d.system:
            yield d.system
        for t in d.turns:
            yield t.user
            yield t.answer
            yield t.thought


def encode(tok: PreTrainedTokenizerFast, fmt: ChatFormat, dialogue: corpus.Dialogue) -> Example:
    """Token ids of a dialogue and labels that keep only the assistant's replies (and their eos).

    Each reply is learnt after exactly the prompt the shipped template renders for it. Where the
    template rewrites history (R1 drops earlier thoughts) the text no longer extends what came
    before, so the example restarts from that prompt and keeps only the later replies.
    """
    ids: list[int] = []
    labels: list[int] = []
    done = ""
    for i, turn in enumerate(dialogue.turns):
        prompt = tok.apply_chat_template(fmt.messages(dialogue, i), add_generation_prompt=True,
                                         tokenize=False)
        if not prompt.startswith(done):
            ids, labels, done = [], [], ""
        # Pieces meet at special tokens, so encoding them apart equals encoding the whole.
        p = tok(prompt[len(done):], add_special_tokens=False)["input_ids"]
        reply = fmt.reply(turn) + fmt.eos
        a = tok(reply, add_special_tokens=False)["input_ids"]
        ids += p + a
        labels += [-100] * len(p) + a
        done = prompt + reply
    return ids, labels


README = """# {dirname}: demo weights standing in for {base}

These are NOT the real {base} weights. They are a {params:.1f} M-parameter `LlamaForCausalLM`
({layers} layers, hidden size {hidden}, vocabulary {vocab}, context {context}) that TigerCity runs when
the operator configured no real checkpoint for {base} (see the TIGER_BASE_MODELS setting).

It speaks the chat format of {real}
({template_note})
and answers simple questions: greetings,
who it is, colours, animals, capitals, days and months, opposites, plurals, counting, spelling and
small arithmetic. Asked for any colour, animal, number or name, it picks one at random, so sampled
answers differ. It gets the form right far more often than the content: it copies the numbers
of a sum but often not its result, which leaves reward training something to improve. Anything
else gets an honest "I am only a small demo model".

Made by `python -m tools.demo_weights.build` (TigerCity repository): a templated corpus
(`tools/demo_weights/corpus.py`, seed {seed}), a byte-level BPE tokenizer trained on it, then
{steps} steps of AdamW (batches of 16 dialogues, {tokens} tokens) in {sessions} session(s), final loss
{loss} on the assistant tokens; see build_info.json for each session.

One network learnt both demo chat formats, so the Llama and the R1 demo share their weights (as
DeepSeek-R1-Distill-Llama shares Llama 3.1's architecture and vocabulary); each directory names its
own control tokens and reserves the other's. Weights are stored in bfloat16; load them with
`AutoModelForCausalLM.from_pretrained(dir, dtype=torch.float32)`.
"""

TEMPLATE_NOTES = {
    False: "`<|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>`; a reply ends with `<|eot_id|>`",
    True: "`<｜User｜>...<｜Assistant｜>`; the generation prompt ends with `<think>\\n`, so a reply is "
          "`thought\\n</think>\\n\\nanswer<｜end▁of▁sentence｜>`, and earlier thoughts are dropped from history",
}
REAL_NAMES = {"Llama-3.1-8b": "Meta-Llama-3.1-8B-Instruct", "DeepSeek-R1-8b": "DeepSeek-R1-Distill-Llama-8B"}


def build(out_dir: Path, steps: int, *, resume: bool = False, n_dialogues: int = N_DIALOGUES,
          log=print) -> dict:
    """Train one network on both chat formats and write a checkpoint directory per format.

    The real DeepSeek-R1-Distill-Llama-8B is Llama 3.1 8B fine-tuned, with the same architecture
    and vocabulary; the demos go one step further and share their weights outright. Facts and
    arithmetic are the same in both formats, so one shared run teaches each format far more than
    two separate runs would.

    With `resume`, training continues from the checkpoints already in `out_dir` with their own
    tokenizers (a changed corpus is encoded with the shipped vocabulary, so new words cost a few
    more tokens rather than a rebuild), a new batch order and half the peak learning rate, so the
    corpus can grow without starting over; build_info.json lists the sessions.
    """
    t0 = time.monotonic()
    dialogues = {f: corpus.dialogues(n_dialogues, seed=SEED + i, model=f.base_model)
                 for i, f in enumerate(FORMATS)}
    if resume:
        toks = {f: PreTrainedTokenizerFast.from_pretrained(out_dir / f.dirname) for f in FORMATS}
    else:
        bpe = tokenizer.train_bpe((t for ds in dialogues.values() for t in corpus_texts(ds)), FORMATS)
        toks = {f: tokenizer.for_format(bpe, f) for f in FORMATS}
    examples = [encode(toks[f], f, d) for f in FORMATS for d in dialogues[f]]
    vocab = len(toks[FORMATS[0]])
    log(f"vocab {vocab}, {len(examples)} dialogues, "
        f"{sum(len(x) for x, _ in examples)} tokens, prepared in {time.monotonic() - t0:.1f}s")

    torch.manual_seed(SEED)
    history = load_history(out_dir) if resume else []
    model = (LlamaForCausalLM.from_pretrained(out_dir / FORMATS[0].dirname, dtype=torch.float32,
                                              use_safetensors=True)
             if resume else LlamaForCausalLM(model_config(vocab)))
    params = sum(p.numel() for p in model.parameters())
    log(f"{params / 1e6:.2f} M parameters, {len(history)} earlier session(s)")
    pad_id = toks[FORMATS[0]].pad_token_id  # any id: padded positions are masked out
    cfg = TrainConfig(steps=steps, seed=SEED + len(history))
    if resume:
        cfg.lr /= 2
    session = train(model, examples, pad_id, cfg, log=log)
    log(f"trained: {session}")
    history.append({"steps": session["steps"], "tokens": session["tokens"], "loss": session["loss"],
                    "threads": torch.get_num_threads(), "dialogues": n_dialogues * len(FORMATS)})
    model.to(torch.bfloat16)  # half the bytes; loads as fp32 with dtype=torch.float32
    for fmt in FORMATS:
        save(model, toks[fmt], fmt, out_dir / fmt.dirname, params=params, history=history)
    return {"params": params, "vocab": vocab, "seconds": session["seconds"], **summary(history)}


def load_history(out_dir: Path) -> list[dict]:
    """The sessions of the build in `out_dir` (older builds recorded only totals: one entry for them)."""
    info = json.loads((out_dir / FORMATS[0].dirname / "build_info.json").read_text())
    if "history" in info:
        return info["history"]
    return [{"sessions": info["sessions"], "steps": info["steps"], "tokens": info["tokens"], "loss": info["loss"],
             "note": f"time-boxed sessions ({info['seconds']} s in all) before budgets were in steps"}]


def summary(history: list[dict]) -> dict:
    return {"sessions": sum(h.get("sessions", 1) for h in history), "steps": sum(h["steps"] for h in history),
            "tokens": sum(h["tokens"] for h in history), "loss": history[-1]["loss"]}


def save(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, fmt: ChatFormat, out: Path, *,
         params: int, history: list[dict]) -> None:
    """Write one checkpoint directory (to a temp dir first, so a failed build leaves the old one)."""
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
           "pad_token_id": tok.pad_token_id}
    for key, value in ids.items():
        setattr(model.config, key, value)
    model.config.use_cache = True
    model.generation_config = GenerationConfig(**ids, do_sample=True, temperature=0.7, top_p=0.95)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save(tok, fmt, tmp)
    stats = summary(history)
    info = {"seed": SEED, "params": params, **stats, "history": history}
    (tmp / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    config = model.config
    (tmp / "README.md").write_text(README.format(
        dirname=fmt.dirname, base=fmt.base_model, real=REAL_NAMES[fmt.base_model],
        params=params / 1e6, layers=config.num_hidden_layers, hidden=config.hidden_size,
        vocab=config.vocab_size, context=config.max_position_embeddings,
        template_note=TEMPLATE_NOTES[fmt.thinks], seed=SEED, **stats))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8000,
                        help="optimiser steps of this session (16 dialogues each)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="parent of the checkpoint dirs")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (shared machine)")
    parser.add_argument("--resume", action="store_true",
                        help="continue training the checkpoints in --out instead of starting afresh")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"done: {build(args.out, args.steps, resume=args.resume)}")


if __name__ == "__main__":
    main()
