"""Writes for API keys, and the check of a key (cached per process: apikeys/key_cache.py)."""
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apikeys import key_cache, keys, last_used
from apikeys.models import ApiKey
from tigercity import quotas
from tigercity.errors import InvalidRequest, NotFound


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # the whole key: shown to the user once, never stored


def api_key_create(*, owner, name: str) -> CreatedKey:
    name = (name or "").strip()
    if not 1 <= len(name) <= 64:
        raise InvalidRequest("name must be 1 to 64 characters long.", param="name", code="invalid_length")
    secret = keys.generate()
    with transaction.atomic():
        quotas.lock_owner(owner)
        quotas.API_KEYS.check(ApiKey.objects.filter(owner=owner, revoked_at=None).count())
        api_key = ApiKey.objects.create(
            owner=owner, name=name, prefix=keys.prefix_of(secret), hashed_key=keys.digest(secret)
        )
    return CreatedKey(api_key=api_key, secret=secret)


def api_key_revoke(*, owner, key_id: int) -> ApiKey:
    api_key = ApiKey.objects.filter(owner=owner, pk=key_id).first()
    if api_key is None:
        raise NotFound("No such API key.", param="id")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, key: str) -> ApiKey | None:
    """The active key matching `key`, with its owner, or None: from this process's key cache when it
    may be trusted (apikeys/key_cache.py), else from the database. Notes the use (apikeys/last_used.py)."""
    found = api_key_cached(key=key)
    if found is NOT_CACHED:
        found = _api_key_checked(key)
    if found is not None:
        last_used.recorder.note(found.pk)
    return found


NOT_CACHED = object()


def api_key_cached(*, key: str) -> ApiKey | None | object:
    """Without the database: the key from this process's cache, None for what cannot be a key, or
    NOT_CACHED (then api_key_authenticate asks the database). Reads the shared cache's generation."""
    if not keys.looks_valid(key):
        return None
    if not key_cache.enabled():
        return NOT_CACHED
    cache = key_cache.process_cache
    found = cache.get(keys.digest(key), cache.generation())
    return NOT_CACHED if found is None else found


def _api_key_checked(key: str) -> ApiKey | None:
    """The database's answer for a well-formed key; an active one is cached for the next requests."""
    cache = key_cache.process_cache if key_cache.enabled() else None
    generation = cache.generation() if cache is not None else None  # before the database: see key_cache
    candidates = ApiKey.objects.select_related("owner").filter(prefix=keys.prefix_of(key), revoked_at=None)
    for api_key in candidates:
        if keys.matches(key, api_key.hashed_key):
            if not api_key.owner.is_active:
                return None
            if cache is not None:
                cache.put(api_key.hashed_key, api_key, generation)
            return api_key
    return None
