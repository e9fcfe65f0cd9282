"""Fine-tuning jobs vs TRL, and chat latency during a job.

1. Supervised and DPO jobs of the engine (in-process, the sample datasets, their 10 % held-out split)
   side by side with TRL's SFTTrainer / DPOTrainer on the same demo weights, LoRA settings (rank 8,
   alpha 16, dropout 0.1, all seven projections), data, epochs, batch size, learning rate (linear decay,
   no warm-up, AdamW without weight decay, gradient clipping 1.0) and torch threads: wall time ratio,
   final validation loss (supervised: mean NLL of the completion tokens) and held-out preference
   accuracy (DPO; reference = the starting weights for both).
2. The per-token latency of a streamed chat (greedy, 64 tokens) on an idle engine and while a
   supervised job runs on the same base, alternating.

Needs the `bench` extra (trl). Run: `.venv/bin/python bench/finetune.py [--quick] [--seeds N]` (with
several seeds: total times, mean validation figures; the seed draws each side's new LoRA A, and one
seed's luck moves the supervised validation loss by several percent).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time

from _common import DEMO_DIRS, OUT, ROOT, pin_threads

SFT_FILE = ROOT / "inference" / "sample_datasets" / "pirate-supervised.jsonl"
DPO_FILE = ROOT / "inference" / "sample_datasets" / "terse-preference.jsonl"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def load_split(path, seed=0):
    from inference.engine.training.examples import holdout_split, parse_jsonl

    _, examples = parse_jsonl(path.read_bytes(), max_lines=10_000)
    train, valid = holdout_split(len(examples), 0.1, seed)
    return [examples[i] for i in train], [examples[i] for i in valid]


# -- ours --------------------------------------------------------------------------------------------

def ours(engine, method, train, valid, epochs, batch, lr, beta, tmp, seed=0) -> dict:
    from inference.engine.types import AdapterRef, FineTuneRequest, FineTuneStage, LoraSpec

    data = ({"supervised_train": tuple(train), "supervised_validation": tuple(valid)} if method == "supervised"
            else {"preference_train": tuple(train), "preference_validation": tuple(valid)})
    req = FineTuneRequest(job_id=f"bench-{method}-{time.time_ns()}", base="b", source=AdapterRef("m", 0, ""),
                          dest_revision=1, dest_path=f"{tmp}/{method}-{time.time_ns()}",
                          stages=(FineTuneStage(method, epochs, batch, lr, beta=beta),),
                          lora=LoraSpec(rank=8, alpha=16.0, dropout=0.1, target_modules="qkvo_ffn"), seed=seed, **data)
    start = time.perf_counter()
    result = engine.finetune(req, lambda e: None).result()
    seconds = time.perf_counter() - start
    m = result.metrics
    return {"seconds": seconds, "steps": result.steps, "valid_loss": m.get("valid_loss"),
            "valid_preference_accuracy": m.get("valid_preference_accuracy")}


# -- TRL ---------------------------------------------------------------------------------------------

def trl_run(method, train, valid, epochs, batch, lr, beta, tmp, seed=0) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(DEMO_DIRS["Llama-3.1-8b"])
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules=TARGETS, task_type="CAUSAL_LM")
    common = dict(output_dir=f"{tmp}/trl-{method}", num_train_epochs=epochs, per_device_train_batch_size=batch,
                  per_device_eval_batch_size=16, learning_rate=lr, lr_scheduler_type="linear", warmup_steps=0,
                  weight_decay=0.0, max_grad_norm=1.0, optim="adamw_torch", seed=seed, report_to=[], save_strategy="no",
                  logging_steps=1000, use_cpu=True, eval_strategy="no", dataloader_num_workers=0)
    if method == "supervised":
        from trl import SFTConfig, SFTTrainer

        def rows(examples):
            return Dataset.from_list([{"prompt": list(e.messages[:-1]), "completion": [e.messages[-1]]} for e in examples])

        trainer = SFTTrainer(model=model, args=SFTConfig(**common, completion_only_loss=True, max_length=1024),
                             train_dataset=rows(train), eval_dataset=rows(valid), processing_class=tokenizer,
                             peft_config=lora)
    else:
        from trl import DPOConfig, DPOTrainer

        def rows(examples):
            return Dataset.from_list([{"prompt": list(e.messages), "chosen": [{"role": "assistant", "content": e.preferred}],
                                       "rejected": [{"role": "assistant", "content": e.non_preferred}]} for e in examples])

        trainer = DPOTrainer(model=model, args=DPOConfig(**common, beta=beta, max_length=1024),
                             train_dataset=rows(train), eval_dataset=rows(valid), processing_class=tokenizer,
                             peft_config=lora)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    scores = trainer.evaluate()
    return {"seconds": seconds, "steps": trainer.state.global_step, "valid_loss": scores.get("eval_loss"),
            "valid_preference_accuracy": scores.get("eval_rewards/accuracies")}


# -- latency during a job ----------------------------------------------------------------------------

def stream_ms_per_token(engine, tokens: int, eos_ids) -> tuple[float, int]:
    """(ms per token after the first, tokens streamed) of one greedy stream of exactly `tokens`
    tokens: the demo model ends this answer after ~15 tokens, so its end-of-turn tokens are banned
    (logit_bias) to make every stream as long on both sides."""
    from inference.engine.types import GenerationRequest, SamplingParams

    stamps, done = [], threading.Event()

    def on_event(event):
        if event.kind == "delta":
            stamps.append(time.perf_counter())
        elif event.kind in ("done", "failed"):
            done.set()

    engine.submit(GenerationRequest(request_id=f"lat-{time.time_ns()}", base="b",
                                    messages=({"role": "user", "content": "Tell me about cats and dogs."},),
                                    params=SamplingParams(temperature=0, max_tokens=tokens,
                                                          logit_bias=tuple((i, -100.0) for i in sorted(eos_ids)))),
                  on_event)
    done.wait(120)
    return (stamps[-1] - stamps[0]) * 1000 / max(len(stamps) - 1, 1), len(stamps)


def latency(engine, train, valid, rounds, tmp) -> dict:
    from inference.engine.types import AdapterRef, FineTuneRequest, FineTuneStage, LoraSpec

    from inference.engine.checkpoint import inspect_checkpoint

    eos_ids = inspect_checkpoint(str(DEMO_DIRS["Llama-3.1-8b"])).eos_token_ids
    idle, during, deltas = [], [], []
    for _ in range(rounds):
        ms, n = stream_ms_per_token(engine, 64, eos_ids)
        idle.append(ms)
        deltas.append(n)
        events, started = [], threading.Event()
        req = FineTuneRequest(job_id=f"lat-job-{time.time_ns()}", base="b", source=AdapterRef("m", 0, ""),
                              dest_revision=1, dest_path=f"{tmp}/lat-{time.time_ns()}",
                              stages=(FineTuneStage("supervised", 50, 4, 2e-3),), supervised_train=tuple(train),
                              supervised_validation=tuple(valid), lora=LoraSpec(rank=8, alpha=16.0, dropout=0.1), seed=0)
        future = engine.finetune(req, lambda e: (events.append(e), started.set() if e.type == "metrics" else None))
        started.wait(120)  # the job is past its set-up: training slices from now on
        ms, n = stream_ms_per_token(engine, 64, eos_ids)
        during.append(ms)
        deltas.append(n)
        engine.cancel_finetune(req.job_id)
        try:
            future.result(120)
        except Exception:
            pass
    return {"idle_ms_per_token": statistics.median(idle), "during_job_ms_per_token": statistics.median(during),
            "ratio": statistics.median(during) / statistics.median(idle), "rounds": rounds,
            "ratios_per_round": [d / i for i, d in zip(idle, during)], "deltas_per_stream": [min(deltas), max(deltas)]}


def mean_run(runs: list[dict]) -> dict:
    """Total seconds and steps, mean validation figures, over the runs of several seeds."""
    out = {"seconds": sum(r["seconds"] for r in runs), "steps": sum(r["steps"] for r in runs)}
    for key in ("valid_loss", "valid_preference_accuracy"):
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = statistics.mean(values) if values else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--latency-only", action="store_true", help="only part 2 (no TRL)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="part 1 with seeds 0..N-1 on both sides (the seed draws the new LoRA's A): means")
    args = parser.parse_args()
    pin_threads(args.threads)
    import os

    from inference.engine.config import EngineConfig
    from inference.engine.serving.engine import Engine

    tmp = tempfile.mkdtemp(prefix="bench-ft-")
    os.environ.setdefault("TIGER_DATA_DIR", tmp)
    engine = Engine({"b": str(DEMO_DIRS["Llama-3.1-8b"])}, EngineConfig(cpu_threads=args.threads))
    engine.start("b")
    epochs = 1 if args.quick else 6
    plans = [("supervised", SFT_FILE, 2e-3, 0.1), ("dpo", DPO_FILE, 2e-3, 0.1)]
    results = {"load_average": os.getloadavg(), "epochs": epochs, "batch_size": 4}
    print(f"load average at the start: {results['load_average']}", flush=True)
    for method, path, lr, beta in ([] if args.latency_only else plans):
        train, valid = load_split(path)
        runs = [(ours(engine, method, train, valid, epochs, 4, lr, beta, tmp, seed),
                 trl_run(method, train, valid, epochs, 4, lr, beta, tmp, seed)) for seed in range(args.seeds)]
        first, theirs = (mean_run([r[side] for r in runs]) for side in (0, 1))
        results[method] = {"ours": first, "trl": theirs, "time_ratio": first["seconds"] / theirs["seconds"],
                           "seeds": args.seeds, "per_seed": runs}
        print(f"{method:10s} ours {first['seconds']:7.1f} s ({first['steps']} steps)  TRL {theirs['seconds']:7.1f} s "
              f"({theirs['steps']} steps)  ratio {first['seconds'] / theirs['seconds']:.2f}x  "
              f"valid loss ours {first['valid_loss']:.4f} TRL {theirs['valid_loss']:.4f}"
              + (f"  preference accuracy ours {first['valid_preference_accuracy']:.3f} "
                 f"TRL {theirs['valid_preference_accuracy']:.3f}" if method == "dpo" else ""), flush=True)
        if args.seeds > 1:
            print(f"{'':10s} valid loss per seed: ours " + " ".join(f"{o['valid_loss']:.4f}" for o, _ in runs)
                  + "  TRL " + " ".join(f"{t['valid_loss']:.4f}" for _, t in runs), flush=True)
    train, valid = load_split(SFT_FILE)
    results["latency"] = latency(engine, train, valid, 2 if args.quick else 5, tmp)
    lat = results["latency"]
    print(f"chat stream: idle {lat['idle_ms_per_token']:.2f} ms/token, during a job {lat['during_job_ms_per_token']:.2f} "
          f"ms/token: {lat['ratio']:.2f}x (median of {lat['rounds']} alternating rounds; per round "
          + " ".join(f"{r:.2f}x" for r in lat["ratios_per_round"])
          + f"; {lat['deltas_per_stream'][0]}-{lat['deltas_per_stream'][1]} text deltas per stream)")
    results["load_average_end"] = os.getloadavg()
    print(f"load average at the end: {results['load_average_end']}")
    OUT.mkdir(exist_ok=True)
    (OUT / "finetune.json").write_text(json.dumps(results, indent=2))
    engine.shutdown()


if __name__ == "__main__":
    main()
