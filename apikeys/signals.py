"""What makes cached API keys stale (apikeys/key_cache.py): a key saved after its creation (revoked) or
deleted, a user saved (deactivated, password or anything else changed) or deleted. Writes that bypass
signals (QuerySet.update of revoked_at or is_active) must call key_cache.keys_changed() themselves.

The generation is bumped *before* the write (pre_save, pre_delete), and again when it commits: a shared
cache that cannot be reached then raises before the database changes, so the revocation is refused
rather than written while every process goes on trusting the key under the old generation once Redis
answers again."""
from django.contrib.auth import get_user_model
from django.db.models.signals import pre_delete, pre_save

from apikeys.key_cache import keys_changed
from apikeys.models import ApiKey


def _key_saving(sender, instance, **kwargs):
    if not instance._state.adding:
        keys_changed()


def _user_saving(sender, instance, update_fields=None, **kwargs):
    # Signing in saves last_login alone: that changes nothing a key needs, and happens often.
    if not instance._state.adding and set(update_fields or ()) != {"last_login"}:
        keys_changed()


def _deleting(sender, instance, **kwargs):
    keys_changed()


def connect() -> None:
    pre_save.connect(_key_saving, sender=ApiKey, dispatch_uid="apikeys.key_saved")
    pre_delete.connect(_deleting, sender=ApiKey, dispatch_uid="apikeys.key_deleted")
    pre_save.connect(_user_saving, sender=get_user_model(), dispatch_uid="apikeys.user_saved")
    pre_delete.connect(_deleting, sender=get_user_model(), dispatch_uid="apikeys.user_deleted")
