import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from inference.engine.types import LoraSpec
from tigercity.errors import InvalidRequest

# The generation and training defaults of a model, editable on a user model.
DEFAULT_FIELDS = ("temperature", "top_p", "learning_rate", "learning_steps", "beta", "epsilon")


class TunedModel(models.Model):
    """A user's model: a LoRA adapter on a base model. Base models are configuration, not rows
    (catalog.BaseModel); both have the model interface (model_interface.py)."""

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # names the weights on disk
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tuned_models")
    name = models.CharField(max_length=64)
    slug = models.CharField(max_length=64)  # the API's `id`
    description = models.TextField(blank=True, default="")
    base_name = models.CharField(max_length=64)  # the base model at the root of the ancestry
    parent_name = models.CharField(max_length=64)  # as it was called when this model was created
    revision = models.PositiveIntegerField(default=0)

    rank = models.PositiveSmallIntegerField()
    alpha = models.FloatField()
    dropout = models.FloatField()
    target_modules = models.CharField(max_length=16)

    temperature = models.FloatField()
    top_p = models.FloatField()
    learning_rate = models.FloatField()
    learning_steps = models.PositiveSmallIntegerField()
    beta = models.FloatField()
    epsilon = models.FloatField()

    created_at = models.DateTimeField(auto_now_add=True)
    last_modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("owner", Lower("slug"), name="unique_model_id_per_owner"),
            models.UniqueConstraint("owner", Lower("name"), name="unique_model_name_per_owner"),
        ]

    read_only = False
    default_model = False  # the default model is always a base model

    def __str__(self) -> str:
        return self.name

    @property
    def api_id(self) -> str:
        return self.slug

    @property
    def lora(self) -> LoraSpec:
        return LoraSpec(rank=self.rank, alpha=self.alpha, dropout=self.dropout, target_modules=self.target_modules)

    def child_lora(self, *, rank: int | None = None, alpha: float | None = None, dropout: float | None = None,
                   target_modules: str | None = None) -> LoraSpec:
        """The LoRA settings of a copy of this model: its own, since a copy keeps its weights. A value
        that contradicts them is a 400 naming the field; dropout only acts in training, so it may change."""
        own = self.lora
        for field, value in (("rank", rank), ("alpha", alpha), ("target_modules", target_modules)):
            if value is not None and value != getattr(own, field):
                raise InvalidRequest(
                    f"{field} must be {getattr(own, field)!r} (or left out): the parent model {self.name!r} is an "
                    f"adapter with {field} {getattr(own, field)!r}, and a copy keeps its weights.",
                    param=field, code="contradicts_parent",
                )
        return LoraSpec(rank=own.rank, alpha=own.alpha, dropout=own.dropout if dropout is None else dropout,
                        target_modules=own.target_modules)

    def child_defaults(self) -> dict:
        """The generation and training defaults of a copy of this model: its own."""
        return {field: getattr(self, field) for field in DEFAULT_FIELDS}


class Revision(models.Model):
    """One version of a model's weights. `path` is "" for a revision 0 that equals its base."""

    model = models.ForeignKey(TunedModel, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    path = models.CharField(max_length=512, blank=True, default="")  # relative to the adapters directory
    created_at = models.DateTimeField(auto_now_add=True)
    restored_from = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint("model", "number", name="unique_revision_number")]


class TrainingRun(models.Model):
    """One /v1/train call (kind "reward") or one fine-tuning job ("supervised", "dpo",
    "supervised+dpo") and what it did."""

    model = models.ForeignKey(TunedModel, on_delete=models.CASCADE, related_name="training_runs")
    kind = models.CharField(max_length=20, default="reward")
    from_revision = models.PositiveIntegerField()
    to_revision = models.PositiveIntegerField(null=True, blank=True)  # None when nothing changed
    changed = models.BooleanField()
    reason = models.TextField(blank=True, default="")
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class DatasetFile(models.Model):
    """An uploaded JSONL dataset (OpenAI's `file` object), validated whole at upload."""

    id = models.CharField(primary_key=True, max_length=40)  # "file-<hex>"
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dataset_files")
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=32, default="fine-tune")
    kind = models.CharField(max_length=16)  # supervised | preference
    bytes = models.PositiveBigIntegerField()
    lines = models.PositiveIntegerField()  # examples (non-blank lines)
    tokens = models.PositiveBigIntegerField()  # per epoch, with the default base model's tokenizer
    content = models.TextField()  # the file itself (UTF-8, already validated)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class FineTuneJob(models.Model):
    """A dataset job (OpenAI's `fine_tuning.job`). Statuses: validating_files -> queued -> running ->
    succeeded | failed | cancelled."""

    ACTIVE = ("validating_files", "queued", "running")
    FINAL = ("succeeded", "failed", "cancelled")

    id = models.CharField(primary_key=True, max_length=40)  # "ftjob-<hex>"
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="finetune_jobs")
    model = models.ForeignKey(TunedModel, on_delete=models.CASCADE, related_name="finetune_jobs")
    base_name = models.CharField(max_length=64)  # the engine that runs it
    status = models.CharField(max_length=20, default="validating_files")
    training_file = models.CharField(max_length=40)
    validation_file = models.CharField(max_length=40, blank=True, default="")
    preference_file = models.CharField(max_length=40, blank=True, default="")  # dpo stage after supervised
    method = models.JSONField(default=dict)  # OpenAI's shape, every "auto" resolved
    hyperparameters = models.JSONField(default=dict)  # resolved, per stage
    early_stopping = models.JSONField(null=True, blank=True)
    validation_share = models.FloatField(default=0.0)  # held out of the training file when no validation file
    seed = models.BigIntegerField()
    suffix = models.CharField(max_length=64, blank=True, default="")
    wandb = models.JSONField(null=True, blank=True)  # project, entity, name (never the key)
    wandb_api_key = models.CharField(max_length=200, blank=True, default="")  # server-side only, never echoed
    from_revision = models.PositiveIntegerField(null=True, blank=True)
    result_revision = models.PositiveIntegerField(null=True, blank=True)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    epoch = models.PositiveIntegerField(default=0)
    trained_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict)  # the latest value of each metric
    error = models.JSONField(null=True, blank=True)  # {"code", "message", "param"}
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "base_name", "created_at"])]


class FineTuneEvent(models.Model):
    """One line of a job's event log (OpenAI's `fine_tuning.job.event`)."""

    job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="events")
    level = models.CharField(max_length=8, default="info")
    type = models.CharField(max_length=8, default="message")  # message | metrics
    message = models.TextField()
    data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
