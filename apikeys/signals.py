"""What makes cached API keys stale (apikeys/key_cache.py): a key saved after its creation (revoked) or
deleted, a user saved (deactivated, password or anything else changed) or deleted. Writes that bypass
signals (QuerySet.update of revoked_at or is_active) must call key_cache.keys_changed() themselves."""
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from apikeys.key_cache import keys_changed
from apikeys.models import ApiKey


def _key_saved(sender, instance, created, **kwargs):
    if not created:
        keys_changed()


def _user_saved(sender, instance, created, update_fields=None, **kwargs):
    # Signing in saves last_login alone: that changes nothing a key needs, and happens often.
    if not created and set(update_fields or ()) != {"last_login"}:
        keys_changed()


def _deleted(sender, instance, **kwargs):
    keys_changed()


def connect() -> None:
    post_save.connect(_key_saved, sender=ApiKey, dispatch_uid="apikeys.key_saved")
    post_delete.connect(_deleted, sender=ApiKey, dispatch_uid="apikeys.key_deleted")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="apikeys.user_saved")
    post_delete.connect(_deleted, sender=get_user_model(), dispatch_uid="apikeys.user_deleted")
