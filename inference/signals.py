"""What makes a web process's resolved models stale (inference/resolved_models.py): a model saved or
deleted, a revision saved. Writes that bypass signals (QuerySet.update of a model's revision or
defaults) must call resolved_models.models_changed(owner_id) themselves."""
from django.db.models.signals import post_delete, post_save

from inference.models import Revision, TunedModel
from inference.resolved_models import models_changed


def _model_changed(sender, instance, **kwargs):
    models_changed(instance.owner_id)


def _revision_saved(sender, instance, **kwargs):
    owner_id = TunedModel.objects.filter(pk=instance.model_id).values_list("owner_id", flat=True).first()
    if owner_id is not None:
        models_changed(owner_id)


def connect() -> None:
    post_save.connect(_model_changed, sender=TunedModel, dispatch_uid="inference.model_saved")
    post_delete.connect(_model_changed, sender=TunedModel, dispatch_uid="inference.model_deleted")
    post_save.connect(_revision_saved, sender=Revision, dispatch_uid="inference.revision_saved")
