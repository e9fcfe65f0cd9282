"""What makes a web process's resolved models stale (inference/resolved_models.py): a model saved or
deleted, a revision saved. Writes that bypass signals (QuerySet.update of a model's revision or
defaults) must call resolved_models.models_changed(owner_id) themselves.

Bumped before the write (pre_save, pre_delete) and again at its commit: a shared cache that cannot be
reached refuses the change instead of leaving every process on the old row once Redis answers again."""
from django.db.models.signals import pre_delete, pre_save

from inference.models import Revision, TunedModel
from inference.resolved_models import models_changed


def _model_changing(sender, instance, **kwargs):
    models_changed(instance.owner_id)


def _revision_saving(sender, instance, **kwargs):
    owner_id = TunedModel.objects.filter(pk=instance.model_id).values_list("owner_id", flat=True).first()
    if owner_id is not None:
        models_changed(owner_id)


def connect() -> None:
    pre_save.connect(_model_changing, sender=TunedModel, dispatch_uid="inference.model_saved")
    pre_delete.connect(_model_changing, sender=TunedModel, dispatch_uid="inference.model_deleted")
    pre_save.connect(_revision_saving, sender=Revision, dispatch_uid="inference.revision_saved")
