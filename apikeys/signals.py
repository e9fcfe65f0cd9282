"""What makes cached API keys stale (apikeys/key_cache.py): a key saved after its creation (revoked) or
deleted, a user saved (deactivated, password or anything else changed) or deleted. Writes that bypass
signals (QuerySet.update of revoked_at or is_active) must call key_cache.keys_changed() themselves.

Bumped three times (tigercity/generations.py): before the write (pre_save, pre_delete), so that a shared
cache that cannot be reached raises before the database changes (the revocation is refused rather than
written while every process would go on trusting the key under the old generation once Redis answers
again); after the write and again at its commit (post_save, post_delete: `keys_changed`), so that a key
read between the first bump and the commit is cached under a generation already left behind."""
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from apikeys.key_cache import keys_changed, keys_changing
from apikeys.models import ApiKey


def _key_saving(sender, instance, **kwargs):
    if not instance._state.adding:
        keys_changing()


def _key_saved(sender, instance, created, **kwargs):
    if not created:
        keys_changed()


def _user_changes(update_fields) -> bool:
    # Signing in saves last_login alone: that changes nothing a key needs, and happens often.
    return set(update_fields or ()) != {"last_login"}


def _user_saving(sender, instance, update_fields=None, **kwargs):
    if not instance._state.adding and _user_changes(update_fields):
        keys_changing()


def _user_saved(sender, instance, created, update_fields=None, **kwargs):
    if not created and _user_changes(update_fields):
        keys_changed()


def _deleting(sender, instance, **kwargs):
    keys_changing()


def _deleted(sender, instance, **kwargs):
    keys_changed()


def connect() -> None:
    for signal, receiver, sender, uid in (
        (pre_save, _key_saving, ApiKey, "key_saving"), (post_save, _key_saved, ApiKey, "key_saved"),
        (pre_delete, _deleting, ApiKey, "key_deleting"), (post_delete, _deleted, ApiKey, "key_deleted"),
        (pre_save, _user_saving, get_user_model(), "user_saving"), (post_save, _user_saved, get_user_model(), "user_saved"),
        (pre_delete, _deleting, get_user_model(), "user_deleting"), (post_delete, _deleted, get_user_model(), "user_deleted"),
    ):
        signal.connect(receiver, sender=sender, dispatch_uid=f"apikeys.{uid}")
