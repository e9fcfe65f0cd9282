"""What makes a web process's resolved models stale (inference/resolved_models.py): a model saved or
deleted, a revision saved. Writes that bypass signals (QuerySet.update of a model's revision or
defaults) must call resolved_models.models_changed(owner_id) themselves.

Bumped before the write (pre_save, pre_delete: a shared cache that cannot be reached refuses the change
instead of leaving every process on the old row once Redis answers again), and after it and at its commit
(post_save, post_delete: a row read in between is cached under a generation already left behind)."""
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from inference.models import Revision, TunedModel
from inference.resolved_models import models_changed, models_changing


def _model_changing(sender, instance, **kwargs):
    models_changing(instance.owner_id)


def _model_changed(sender, instance, **kwargs):
    models_changed(instance.owner_id)


def _revision_saving(sender, instance, **kwargs):
    # instance.model is the object the revision was made with (or read once, then kept on the instance
    # for post_save): no query of its own per signal.
    models_changing(instance.model.owner_id)


def _revision_saved(sender, instance, **kwargs):
    models_changed(instance.model.owner_id)


def connect() -> None:
    pre_save.connect(_model_changing, sender=TunedModel, dispatch_uid="inference.model_saving")
    post_save.connect(_model_changed, sender=TunedModel, dispatch_uid="inference.model_saved")
    pre_delete.connect(_model_changing, sender=TunedModel, dispatch_uid="inference.model_deleting")
    post_delete.connect(_model_changed, sender=TunedModel, dispatch_uid="inference.model_deleted")
    pre_save.connect(_revision_saving, sender=Revision, dispatch_uid="inference.revision_saving")
    post_save.connect(_revision_saved, sender=Revision, dispatch_uid="inference.revision_saved")
