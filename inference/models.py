import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class TunedModel(models.Model):
    """A user's model: a LoRA adapter on a base model. Base models are configuration, not rows."""

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

    def __str__(self) -> str:
        return self.name


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
    """One /v1/train call and what it did."""

    model = models.ForeignKey(TunedModel, on_delete=models.CASCADE, related_name="training_runs")
    from_revision = models.PositiveIntegerField()
    to_revision = models.PositiveIntegerField(null=True, blank=True)  # None when nothing changed
    changed = models.BooleanField()
    reason = models.TextField(blank=True, default="")
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
