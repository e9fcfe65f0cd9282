"""Writes for API keys."""
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from apikeys import keys
from apikeys.models import ApiKey
from tigercity import quotas
from tigercity.errors import InvalidRequest, NotFound

# Recording every use would write on every request; a minute's precision is what the key list shows.
LAST_USED_PRECISION = timedelta(seconds=60)


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # the whole key: shown to the user once, never stored


def api_key_create(*, owner, name: str) -> CreatedKey:
    name = (name or "").strip()
    if not 1 <= len(name) <= 64:
        raise InvalidRequest("name must be 1 to 64 characters long.", param="name", code="invalid_length")
    quotas.API_KEYS.check(ApiKey.objects.filter(owner=owner, revoked_at=None).count())
    secret = keys.generate()
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
    """The active key matching `key`, with its owner, or None. Records the use (coarsely)."""
    if not keys.looks_valid(key):
        return None
    candidates = ApiKey.objects.select_related("owner").filter(prefix=keys.prefix_of(key), revoked_at=None)
    for api_key in candidates:
        if keys.matches(key, api_key.hashed_key):
            if not api_key.owner.is_active:
                return None
            now = timezone.now()
            if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_PRECISION:
                ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
                api_key.last_used_at = now
            return api_key
    return None
