"""Every default value of a model, a generation and a training, in one place.

The engine's request types take their field defaults from here, and so do the web side's catalog
(base models) and model service (models created from a base). Pure Python: the engine imports it.
docs/api.md lists the values a user sees.
"""

# Generation (base models' values, and those of a model created from a base).
TEMPERATURE = 0.7
TOP_P = 0.95
MAX_TOKENS = 256  # a SamplingParams built without one; the web side always passes its own cap

# Training.
LEARNING_RATE = 1e-5  # base models'; a model created from one copies its parent's
LEARNING_STEPS = 5
BETA = 0.04  # base models' KL weight
NEW_MODEL_BETA = 0.8  # the KL weight of a model created from a base model (the product's documented value)
EPSILON = 0.2
MAX_GRAD_NORM = 1.0

# Fine-tuning jobs (datasets).
DPO_BETA = 0.1  # the KL weight of a preference (DPO) stage
EARLY_STOPPING_THRESHOLD = 0.0  # an improvement of the validation loss must exceed this
EARLY_STOPPING_PATIENCE = 2  # evaluations without improvement before a stage stops
EVALS_PER_EPOCH = 1  # validation passes per epoch (plus one before the first step)

# LoRA settings of a model created from a base model (a copy of a user model keeps its parent's).
LORA_RANK = 16
LORA_DROPOUT = 0.1
LORA_TARGET_MODULES = "qkvo_ffn"


def lora_alpha(rank: int) -> float:
    """The LoRA alpha a caller gets when it gives none: twice the rank (a scale alpha/rank of 2)."""
    return 2.0 * rank


# The defaults of a base model (settings.TIGER["BASE_MODELS"] may override each, per base).
BASE_MODEL = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "learning_rate": LEARNING_RATE,
    "learning_steps": LEARNING_STEPS,
    "beta": BETA,
    "epsilon": EPSILON,
    "rank": LORA_RANK,  # the default LoRA rank of models created from this base
}

# The generation/training defaults of a model created from a base model (learning_rate: its parent's).
NEW_MODEL = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "learning_steps": LEARNING_STEPS,
    "beta": NEW_MODEL_BETA,
    "epsilon": EPSILON,
}
