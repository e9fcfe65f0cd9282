"""Learning benchmark: does online reward training through the public API improve a model, and how fast?

    .venv/bin/python bench/learning.py [--quick] [--threads 1] [--minutes 10] [--task identity]

Public HTTP API only, on a real server (uvicorn in a subprocess, started here) and a demo base model.
A task is a set of prompts and a programmatic reward (small pure functions below): the reward is 1 when
the last number of the answer is the right result, else 0. A fixed held-out set of prompts, disjoint
from the training prompts, is scored greedily (temperature 0) before training and every few rounds.
One round:

  sample `--group` candidates for each of `--prompts` training prompts (POST /v1/generate_response,
  n = group, temperature 1) -> score them -> one POST /v1/train with every group as `examples`.

Target: within `--minutes` of wall time (rounds and evaluations included; the server start and the
first evaluation are not) the held-out mean reward closes at least 30 % of the gap between its
initial value and the maximum (1).

Tasks: `identity` (default): n + 0, 0 + n, n - 0, n times 1, 1 times n, n times 0 for n in 10..99,
held out by number (no training prompt contains a held-out n, so no held-out answer is ever rewarded):
a rule learnt on some numbers has to carry over to others. `times` (the 0..12 times tables) and `add`
(one-digit sums) hold out individual facts; the demo model mostly memorises those (see bench/README.md).

Results: the curve on stdout, raw numbers in bench/out/learning.json, a plot in bench/out/learning.png.
"""
from __future__ import annotations

import argparse
import random
import re
import time
from dataclasses import dataclass

from _common import OUT, Server, add_common_args, busy_note, checkpoint_dir, log, machine, run_parallel, table, write_json

# -- tasks: prompts and rewards ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    prompt: str
    answer: int


def last_integer(text: str) -> int | None:
    """The last integer written in `text` ("12 + 7 = 19." -> 19), or None."""
    found = re.findall(r"-?\d+", text)
    return int(found[-1]) if found else None


def correctness_reward(problem: Problem, response: str) -> float:
    """1 if the response's final number is the right result, else 0 ("12 + 7 = 19." for 12 + 7)."""
    return 1.0 if last_integer(response) == problem.answer else 0.0


def addition_problems(lo: int, hi: int) -> list[Problem]:
    """Every sum a + b with a, b in [lo, hi], asked the way visitors ask."""
    return [Problem(f"What is {a} + {b}?", a + b) for a in range(lo, hi + 1) for b in range(lo, hi + 1)]


def times_table_problems(hi: int = 12) -> list[Problem]:
    """Every product a × b with a, b in [0, hi] (the demo corpus's times tables)."""
    return [Problem(f"What is {a} times {b}?", a * b) for a in range(hi + 1) for b in range(hi + 1)]


IDENTITY_FORMS = (("{n} + 0", 1), ("0 + {n}", 1), ("{n} - 0", 1), ("{n} times 1", 1), ("1 times {n}", 1),
                  ("{n} times 0", 0))  # (question, result = n * factor)


def identity_problems() -> list[Problem]:
    """Sums and products with 0 or 1 (n + 0, 1 times n, n times 0, ...) for every n in 10..99: one rule
    per form, so what is learnt on some numbers can carry over to numbers never trained on."""
    return [Problem(f"What is {form.format(n=n)}?", n * factor) for n in range(10, 100) for form, factor in IDENTITY_FORMS]


TASKS = {
    # name: (all problems, reward, held out by number)
    "add": (lambda: addition_problems(0, 9), correctness_reward, False),
    "times": (times_table_problems, correctness_reward, False),
    "identity": (identity_problems, correctness_reward, True),
}


def split(problems: list[Problem], heldout: int, seed: int, *, by_number: bool) -> tuple[list[Problem], list[Problem]]:
    """A fixed held-out set and the training prompts, disjoint: no held-out prompt is ever trained on.
    `by_number`: neither is any prompt that shares its number n with a held-out one (for tasks whose
    answer is n, so that no held-out answer is ever rewarded in training either)."""
    shuffled = problems[:]
    random.Random(seed).shuffle(shuffled)
    held, rest = shuffled[:heldout], shuffled[heldout:]
    if by_number:
        numbers = {_number(p) for p in held}
        rest = [p for p in rest if _number(p) not in numbers]
    return rest, held


def _number(problem: Problem) -> int:
    """The largest number of a prompt (n in "What is n + 0?")."""
    return max(map(int, re.findall(r"\d+", problem.prompt)))


# -- the loop ---------------------------------------------------------------------------------------------


def evaluate(clients, model: str, problems: list[Problem], reward, max_tokens: int) -> tuple[float, list[str]]:
    """Mean greedy reward over `problems`, requests spread over the clients (sent concurrently)."""
    chunks = [problems[i::len(clients)] for i in range(len(clients))]

    def run(client, chunk):
        out = []
        for p in chunk:
            body = {"model": model, "messages": [{"role": "user", "content": p.prompt}],
                    "temperature": 0, "max_tokens": max_tokens}
            out.append((p, client.generate(body)["choices"][0]["message"]["content"]))
        return out

    answers = [pair for part in run_parallel([lambda c=c, ch=ch: run(c, ch) for c, ch in zip(clients, chunks)])
               for pair in part]
    return sum(reward(p, a) for p, a in answers) / len(answers), [a for _, a in answers[:5]]


def sample_groups(clients, model: str, problems: list[Problem], reward, args) -> list[dict]:
    """`args.group` candidates per problem at temperature `args.temperature`, scored."""
    def run(client, p):
        body = {"model": model, "messages": [{"role": "user", "content": p.prompt}], "n": args.group,
                "temperature": args.temperature, "top_p": 1.0, "max_tokens": args.max_tokens}
        choices = client.generate(body)["choices"]
        return {"messages": body["messages"],
                "responses": [{"content": c["message"]["content"], "reward": reward(p, c["message"]["content"])}
                              for c in choices]}

    jobs = [lambda c=clients[i % len(clients)], p=p: run(c, p) for i, p in enumerate(problems)]
    return run_parallel(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--base", default="Llama-3.1-8b", help="base model (a demo base)")
    parser.add_argument("--task", default="identity", choices=sorted(TASKS))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--heldout", type=int, default=40)
    parser.add_argument("--prompts", type=int, default=16, help="training prompts per round")
    parser.add_argument("--group", type=int, default=8, help="candidates per prompt")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--eval-every", type=int, default=4, help="rounds between held-out evaluations")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--learning-steps", type=int, default=4)
    parser.add_argument("--beta", type=float, default=0.02)
    parser.add_argument("--epsilon", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.minutes = 1.0
    checkpoint_dir(args, args.base)

    make, reward, by_number = TASKS[args.task]
    train_set, heldout = split(make(), args.heldout, args.seed, by_number=by_number)
    rng = random.Random(args.seed + 1)
    results = {"machine": machine(), "args": vars(args), "train_prompts": len(train_set),
               "heldout_prompts": [p.prompt for p in heldout]}

    log(f"starting a server ({busy_note()})")
    server = Server(checkpoint=args.checkpoint, threads=args.threads).start()
    curve = []
    try:
        api = server.client()
        model = api.create_model("learner", parent=args.base, rank=args.rank, alpha=2 * args.rank,
                                 dropout=0.0)["id"]
        clients = [server.client() for _ in range(max(args.prompts, 8))]
        initial, examples = evaluate(clients, model, heldout, reward, args.max_tokens)
        log(f"held-out mean reward before training: {initial:.3f}  e.g. {examples}")
        target = initial + 0.3 * (1 - initial)
        curve.append({"elapsed_s": 0.0, "round": 0, "heldout": initial, "train_reward": None})
        start = time.perf_counter()
        deadline = start + args.minutes * 60
        rnd = 0
        while time.perf_counter() < deadline:
            rnd += 1
            problems = rng.sample(train_set, args.prompts)
            groups = sample_groups(clients, model, problems, reward, args)
            rewards = [r["reward"] for g in groups for r in g["responses"]]
            out = api.train({"model": model, "examples": groups, "learning_rate": args.learning_rate,
                             "learning_steps": args.learning_steps, "beta": args.beta, "epsilon": args.epsilon})
            point = {"elapsed_s": time.perf_counter() - start, "round": rnd, "heldout": None,
                     "train_reward": sum(rewards) / len(rewards), "changed": out["training"]["changed"],
                     "kl": out["training"]["kl"], "train_ms": out["training"]["duration_ms"]}
            if rnd % args.eval_every == 0:
                point["heldout"], examples = evaluate(clients, model, heldout, reward, args.max_tokens)
                point["elapsed_s"] = time.perf_counter() - start
                log(f"round {rnd} at {point['elapsed_s']:.0f}s: held-out {point['heldout']:.3f} "
                    f"(train samples {point['train_reward']:.2f}, kl {point['kl']}) e.g. {examples[:2]}")
            curve.append(point)
        final, examples = evaluate(clients, model, heldout, reward, args.max_tokens)
        curve.append({"elapsed_s": time.perf_counter() - start, "round": rnd, "heldout": final, "train_reward": None})
        for c in clients:
            c.close()
        api.close()
    finally:
        server.stop()

    evals = [p for p in curve if p["heldout"] is not None]
    best = max(p["heldout"] for p in evals)
    reached = next((p for p in evals if p["heldout"] >= target and p["round"] > 0), None)
    gap_closed = (final - initial) / (1 - initial) if initial < 1 else 0.0
    results.update(curve=curve, initial=initial, final=final, best=best, target=target, gap_closed_final=gap_closed,
                   reached_target_at_s=reached["elapsed_s"] if reached else None, rounds=rnd, load=busy_note())
    table(f"Held-out mean reward ({len(heldout)} prompts, greedy), task {args.task!r}, {len(train_set)} training prompts",
          ["elapsed s", "round", "held-out reward"], [[round(p["elapsed_s"]), p["round"], p["heldout"]] for p in evals])
    verdict = (f"target {target:.3f} (30 % of the gap) reached after {reached['elapsed_s']:.0f} s"
               if reached else f"target {target:.3f} NOT reached within {args.minutes:g} min")
    print(f"initial {initial:.3f} -> final {final:.3f} (best {best:.3f}); gap closed at the end: "
          f"{gap_closed * 100:.0f} %; {verdict}")
    name = "learning-quick" if args.quick else "learning"
    write_json(name, results)
    plot(curve, initial, target, args, OUT / f"{name}.png")


def plot(curve, initial, target, args, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals = [p for p in curve if p["heldout"] is not None]
    trains = [p for p in curve if p.get("train_reward") is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([p["elapsed_s"] / 60 for p in evals], [p["heldout"] for p in evals], "o-", label="held-out reward (greedy)")
    ax.plot([p["elapsed_s"] / 60 for p in trains], [p["train_reward"] for p in trains], ".", alpha=0.4,
            label=f"training samples (T={args.temperature:g})")
    ax.axhline(target, color="grey", linestyle="--", label="target: 30 % of the gap closed")
    ax.set_xlabel("wall time (minutes)")
    ax.set_ylabel("mean reward")
    ax.set_ylim(0, 1)
    ax.set_title(f"TigerCity online training on {args.base} (demo), task {args.task!r}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
