"""Built-in demo weights: tiny Llama checkpoints that stand in for the real base models.

Built by `python -m tools.demo_weights.build`; the result lives in `weights/` and is committed,
so a fresh checkout can chat without downloading anything.
"""
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# catalog name of the base model -> its demo checkpoint directory
DEMO_CHECKPOINTS: dict[str, Path] = {
    "Llama-3.1-8b": WEIGHTS_DIR / "llama-3.1-8b-demo",
    "DeepSeek-R1-8b": WEIGHTS_DIR / "deepseek-r1-8b-demo",
}
