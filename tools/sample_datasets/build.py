"""Write the two sample datasets the Playground offers as one-click examples (seeded, no download).

- `pirate-supervised.jsonl`: questions the demo models know, with the answer they already give
  after a pirate's greeting ("Ahoy, matey! Paris is the capital of France."). A few epochs of
  supervised training make answers start like that; the facts stay (the tiny demo model loses
  them when taught new wording for everything).
- `terse-preference.jsonl`: the same questions; the preferred answer is the bare fact ("Warsaw.")
  and the non-preferred one the full sentence the demo model gives ("Warsaw is the capital of
  Poland."). DPO moves the model towards short answers.

Run: `python -m tools.sample_datasets.build` (writes inference/sample_datasets/).
"""
import json
import random
from pathlib import Path

from tools.demo_weights.facts import ANIMALS, CAPITALS, COLOURS

OUT = Path(__file__).resolve().parents[2] / "inference" / "sample_datasets"
SEED = 2026


PIRATE = "Ahoy, matey!"


def facts(rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, the plain answer the demo model gives, the bare fact) triples."""
    out = []
    for country, city in CAPITALS.items():
        out.append((f"What is the capital of {country}?", f"{city} is the capital of {country}.", f"{city}."))
    for thing, colour in COLOURS.items():
        out.append((f"What colour is {thing}?", f"{thing[0].upper()}{thing[1:]} is {colour}.", f"{colour.capitalize()}."))
    for animal, (sound, _, _) in ANIMALS.items():
        out.append((f"What sound does a {animal} make?", f"A {animal} says {sound}.", f"{sound.capitalize()}!"))
    for a, b in [(2, 3), (1, 4), (3, 3), (5, 2), (4, 4), (6, 1)]:
        out.append((f"What is {a} + {b}?", f"{a} + {b} = {a + b}.", f"{a + b}."))
    for greeting in ("Hello!", "Hi!", "Good morning!", "Hey there!"):
        out.append((greeting, "How can I help you?", "Hi!"))
    rng.shuffle(out)
    return out


def main() -> None:
    rng = random.Random(SEED)
    rows = facts(rng)[:60]
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "pirate-supervised.jsonl", "w") as f:
        for question, plain, _ in rows:
            f.write(json.dumps({"messages": [{"role": "user", "content": question},
                                             {"role": "assistant", "content": f"{PIRATE} {plain}"}]}) + "\n")
    with open(OUT / "terse-preference.jsonl", "w") as f:
        for question, plain, bare in rows:
            f.write(json.dumps({"input": {"messages": [{"role": "user", "content": question}]},
                                "preferred_output": [{"role": "assistant", "content": bare}],
                                "non_preferred_output": [{"role": "assistant", "content": plain}]}) + "\n")
    print(f"wrote {len(rows)} examples each to {OUT}")


if __name__ == "__main__":
    main()
