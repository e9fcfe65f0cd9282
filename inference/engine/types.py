"""Plain data passed between the web side and the engine.

Everything here is picklable / JSON-friendly so the same objects cross a thread boundary (embedded
engine) or a process boundary (the engine's child process, a Ray Serve replica). No torch, no Django.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from . import defaults

# LoRA target sets, as named by the API (`target_modules`).
TARGET_MODULES: dict[str, tuple[str, ...]] = {
    "qv": ("q_proj", "v_proj"),
    "qkvo": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qkvo_ffn": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}


@dataclass(frozen=True)
class LoraSpec:
    """The LoRA settings of a user model (fixed at creation)."""

    rank: int = defaults.LORA_RANK
    alpha: float | None = None  # None: defaults.lora_alpha(rank), filled in at construction
    dropout: float = defaults.LORA_DROPOUT
    target_modules: str = defaults.LORA_TARGET_MODULES  # a key of TARGET_MODULES

    def __post_init__(self):
        if self.alpha is None:
            object.__setattr__(self, "alpha", defaults.lora_alpha(self.rank))


@dataclass(frozen=True)
class AdapterRef:
    """One revision of one user model's adapter, as stored on disk.

    `path` is a standard PEFT adapter directory (adapter_config.json + adapter_model.safetensors).
    (key, revision) identifies the weights: the engine caches by it, so a path must never be
    rewritten for the same pair.
    """

    key: str  # stable id of the user model (not its name, which can change)
    revision: int
    path: str  # "" for a revision 0 never written yet: LoRA B is zero, so it equals its base


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = defaults.TEMPERATURE  # 0 means greedy
    top_p: float = defaults.TOP_P
    max_tokens: int = defaults.MAX_TOKENS  # already capped by the caller
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: int = 1  # candidate responses, each gets its own `index`
    # None: no log-probabilities; k (0-20): each token's log-probability and the k most likely ones.
    logprobs: int | None = None
    presence_penalty: float = 0.0  # subtracted once from a token's logit once it was generated (-2..2)
    frequency_penalty: float = 0.0  # subtracted per time a token was generated (-2..2)
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, added to its logit), -100..100
    grammar: str | None = None  # an llguidance grammar (see structured.py) every row's text must follow
    grammar_prefix: str = ""  # text forced before the grammar applies (a reasoning model's end-of-thinking tag)

    @property
    def controlled(self) -> bool:
        """Whether rows of this request need per-row work in the sampler."""
        return bool(self.logprobs is not None or self.presence_penalty or self.frequency_penalty
                    or self.logit_bias or self.grammar)


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    base: str  # name of the base model in the engine's catalog
    messages: tuple[dict, ...]  # ({"role": ..., "content": ...}, ...); assistant tool_calls, tool messages
    params: SamplingParams = field(default_factory=SamplingParams)
    adapter: AdapterRef | None = None  # None: the base model itself
    tools: tuple[dict, ...] = ()  # OpenAI function tools ({"type": "function", "function": {...}}) for the template
    prompt: str | None = None  # a raw text prompt, encoded without the chat template (messages then unused)


@dataclass(frozen=True)
class TopLogprob:
    token: str
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text, log-probability under the model, and the most likely tokens."""

    token: str
    logprob: float
    top: tuple[TopLogprob, ...] = ()


# Events a generation emits, in order: any number of TextDelta per index, one Finished per index,
# then one Done. On failure a single Failed replaces whatever was left.
@dataclass(frozen=True)
class TextDelta:
    index: int
    text: str
    kind: Literal["delta"] = "delta"
    logprobs: tuple[TokenLogprob, ...] = ()  # the tokens behind `text` (when logprobs were asked)


@dataclass(frozen=True)
class Finished:
    index: int
    finish_reason: Literal["stop", "length", "cancelled"]
    completion_tokens: int
    kind: Literal["finished"] = "finished"


@dataclass(frozen=True)
class Done:
    prompt_tokens: int
    completion_tokens: int  # summed over all indices
    kind: Literal["done"] = "done"


@dataclass(frozen=True)
class Failed:
    message: str
    code: str = "engine_error"
    kind: Literal["failed"] = "failed"


Event = TextDelta | Finished | Done | Failed
EventCallback = Callable[[Event], None]
TERMINAL_KINDS = frozenset({"done", "failed"})  # the kinds of the last event of a generation


@dataclass(frozen=True)
class TrainingGroup:
    messages: tuple[dict, ...]
    responses: tuple[str, ...]
    rewards: tuple[float, ...]


@dataclass(frozen=True)
class TrainingParams:
    learning_rate: float = defaults.LEARNING_RATE
    learning_steps: int = defaults.LEARNING_STEPS
    beta: float = defaults.BETA
    epsilon: float = defaults.EPSILON
    max_grad_norm: float = defaults.MAX_GRAD_NORM


@dataclass(frozen=True)
class TrainingRequest:
    request_id: str
    base: str
    source: AdapterRef  # the revision training starts from
    dest_revision: int  # the revision number the trained weights get
    dest_path: str  # where the new revision directory must appear (written atomically)
    groups: tuple[TrainingGroup, ...]
    params: TrainingParams = field(default_factory=TrainingParams)
    lora: LoraSpec | None = None  # the model's LoRA settings: needed when source.path is "" (untouched revision 0)


@dataclass(frozen=True)
class TrainingResult:
    changed: bool
    reason: str  # why nothing changed, or "" when it did
    loss: float | None
    kl: float | None
    reward_mean: float
    reward_std: float
    clip_fraction: float | None
    tokens: int
    steps: int
    duration_ms: int


# -- fine-tuning jobs (datasets) ---------------------------------------------------------------------
# The examples themselves are training.examples' dataclasses (plain data, no torch).


@dataclass(frozen=True)
class FineTuneStage:
    """One method run over its dataset: a job runs its stages in order (supervised, then dpo)."""

    method: Literal["supervised", "dpo"]
    n_epochs: int
    batch_size: int  # examples per optimiser step (gradient accumulation splits it by tokens)
    learning_rate: float  # peak; decays linearly to 0 over the stage's steps
    beta: float = defaults.DPO_BETA  # dpo only


@dataclass(frozen=True)
class EarlyStopping:
    """Stop a stage when the validation loss has not improved by more than `threshold` for
    `patience` evaluations in a row; the revision then holds the best evaluated weights."""

    threshold: float = defaults.EARLY_STOPPING_THRESHOLD
    patience: int = defaults.EARLY_STOPPING_PATIENCE


@dataclass(frozen=True)
class FineTuneRequest:
    job_id: str
    base: str
    source: AdapterRef  # the revision the job starts from (also the DPO reference)
    dest_revision: int
    dest_path: str  # where the new revision directory appears (atomically) on success
    stages: tuple[FineTuneStage, ...]
    supervised_train: tuple = ()  # (SupervisedExample, ...)
    supervised_validation: tuple = ()
    preference_train: tuple = ()  # (PreferenceExample, ...)
    preference_validation: tuple = ()
    seed: int = 0
    early_stopping: EarlyStopping | None = None
    evals_per_epoch: int = defaults.EVALS_PER_EPOCH  # validation passes per epoch (plus one before the first step)
    lora: LoraSpec | None = None  # needed when source.path is "" (untouched revision 0)
    max_grad_norm: float = defaults.MAX_GRAD_NORM


@dataclass(frozen=True)
class FineTuneEvent:
    """Progress of a job: `type` "metrics" (data: step, total_steps, epoch, method, losses, ...) or
    "message" (a milestone in words)."""

    job_id: str
    type: Literal["metrics", "message"]
    message: str
    data: dict
    kind: Literal["finetune"] = "finetune"


@dataclass(frozen=True)
class FineTuneResult:
    steps: int
    total_steps: int
    trained_tokens: int
    metrics: dict  # the last metrics of each method, and the validation metrics of the weights kept
    best_step: int | None  # the step whose weights were kept, with early stopping
    stopped_early: bool
    duration_ms: int
