"""The sample datasets tried as the Playground's one click tries them: does each change the demo model's
answers, and how long does it take?

For each sample dataset (inference/sample_datasets/): a new model from the Llama demo base, the file
uploaded, a job with every hyperparameter "auto" (the Fine-tune panel's defaults: supervised for the
pirate file, DPO for the terse one), then the same greedy questions before and after. Questions are of
the file's kinds, 8 of them not in the file (does the new style carry over?) and 4 from it, counted as
changed, in the new style (pirate: starts "Ahoy, matey!"; terse: fewer words), and in the new style
and right (pirate: the words of the right full answer after the greeting; terse: the bare fact, as the
dataset builder tools/sample_datasets/build.py writes them). A real server over HTTP, the engine at the server's default
thread count for demo weights (one); `--seeds` jobs per file (the Playground's seed is random).

Wall time: from the job's creation to its `succeeded` status, read by polling the job every 0.2 s (so
up to 0.2 s late), and the job's own created_at -> finished_at.

Run: `.venv/bin/python bench/try_samples.py` (about 3 minutes on a quiet 2-core machine).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time

from _common import ROOT, Server, log, table, write_json

SAMPLES = ROOT / "inference" / "sample_datasets"
PIRATE = "Ahoy, matey! "


def words(text: str) -> list[str]:
    return [w.strip(".,!?").lower() for w in text.split() if w.strip(".,!?")]


# file, the panel's method for it, whether an answer took the new style, whether it is also right
# (given the dataset builder's plain answer and bare fact for the question)
TRIALS = [("pirate-supervised.jsonl", "supervised",
           lambda before, after: after.startswith(PIRATE.strip()),
           lambda after, plain, bare: set(words(after.removeprefix(PIRATE))) == set(words(plain))),
          ("terse-preference.jsonl", "dpo",
           lambda before, after: 0 < len(words(after)) < len(words(before)),
           lambda after, plain, bare: words(after) == words(bare))]


def probes(path) -> list[tuple[str, str, str]]:
    """(question, plain answer, bare fact): 8 questions of the file's kinds that are not in it, then 4
    that are (seeded)."""
    from tools.sample_datasets.build import SEED, facts

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    inside = {(row.get("messages") or row["input"]["messages"])[0]["content"] for row in rows}
    every = facts(random.Random(SEED))
    return [t for t in every if t[0] not in inside][:8] + sorted(t for t in every if t[0] in inside)[:4]


def answers(api, model: str, questions: list[str]) -> list[str]:
    return [api.generate({"model": model, "messages": [{"role": "user", "content": q}], "temperature": 0,
                          "max_tokens": 48})["choices"][0]["message"]["content"] for q in questions]


def upload(api, path) -> str:
    r = api.http.post("/v1/files", files={"file": (path.name, path.read_bytes(), "application/jsonl")},
                      data={"purpose": "fine-tune"})
    r.raise_for_status()
    return r.json()["id"]


def trial(api, name: str, method: str, took_style, kept, hyper: dict, seed: int) -> dict:
    path = SAMPLES / name
    model = api.create_model(f"try-{method}-{seed}")["id"]
    triples = probes(path)
    questions = [q for q, _, _ in triples]
    before = answers(api, model, questions)
    file_id = upload(api, path)
    body = {"model": model, "training_file": file_id, "seed": seed}
    if method == "dpo" or hyper:
        body["method"] = {"type": method, method: {"hyperparameters": hyper}}
    start = time.perf_counter()
    job = api._json("POST", "/v1/fine_tuning/jobs", body)
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.2)
        job = api._json("GET", f"/v1/fine_tuning/jobs/{job['id']}")
    seconds = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"{name}: the job ended {job['status']}: {job.get('error')}")
    after = answers(api, model, questions)
    changed = [b != a for b, a in zip(before, after)]
    styled = [took_style(b, a) for b, a in zip(before, after)]
    right = [s and kept(a, plain, bare) for s, a, (_, plain, bare) in zip(styled, after, triples)]
    hyper = job["method"][method]["hyperparameters"]
    return {"file": name, "method": method, "seed": seed, "seconds": round(seconds, 1),
            "job_seconds": job["finished_at"] - job["created_at"], "hyperparameters": hyper,
            "trained_tokens": job["trained_tokens"], "changed": sum(changed), "in_new_style": sum(styled),
            "in_new_style_not_in_file": sum(styled[:8]), "styled_and_right": sum(right), "questions": len(questions),
            "examples": [{"q": q, "before": b, "after": a} for q, b, a in zip(questions, before, after)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="jobs per sample dataset, seeds 0, 1, ...")
    parser.add_argument("--hyper", type=json.loads, default={},
                        help='hyperparameters instead of "auto", e.g. \'{"learning_rate_multiplier": 50}\'')
    args = parser.parse_args()
    start_load = os.getloadavg()
    log(f"load average at the start: {start_load}")
    results = []
    with Server(checkpoint=None, threads=1) as server:
        server.start()
        api = server.client()
        for name, method, took_style, kept in TRIALS:
            for seed in range(args.seeds):
                log(f"{name}: {method} job, hyperparameters {args.hyper or 'auto'}, seed {seed}")
                results.append(trial(api, name, method, took_style, kept, args.hyper, seed))
                r = results[-1]
                for ex in r["examples"][:2] + r["examples"][-1:]:
                    log(f"  {ex['q']!r}: {ex['before']!r} -> {ex['after']!r}")
    end_load = os.getloadavg()
    table(f"Sample datasets, one click each ({args.hyper or 'auto settings'}, demo Llama weights)",
          ["file", "method", "seed", "wall s", "job s", "epochs x batch x multiplier", "changed", "new style (not in file)",
           "new style and right"],
                [[r["file"], r["method"], r["seed"], r["seconds"], r["job_seconds"],
            f"{r['hyperparameters']['n_epochs']} x {r['hyperparameters']['batch_size']} x "
            f"{r['hyperparameters']['learning_rate_multiplier']}",
            f"{r['changed']}/{r['questions']}", f"{r['in_new_style']}/{r['questions']} ({r['in_new_style_not_in_file']}/8)",
            f"{r['styled_and_right']}/{r['questions']}"]
           for r in results])
    log(f"load average at the end: {end_load}")
    write_json("try_samples", {"load_average_start": start_load, "load_average_end": end_load, "trials": results})


if __name__ == "__main__":
    main()
