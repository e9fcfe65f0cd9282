"""DRF authentication by `Authorization: Bearer <api key>`."""
from rest_framework import authentication, exceptions

from apikeys import last_used
from apikeys.services import NOT_CACHED, api_key_authenticate, api_key_cached

INVALID = "Invalid or revoked API key."


def bearer_key(request) -> str | None:
    """The key of the Authorization header; None when there is none; raises when it is malformed."""
    header = authentication.get_authorization_header(request)
    if not header:
        return None
    try:
        scheme, _, key = header.decode("ascii").partition(" ")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("The Authorization header must be ASCII.") from None
    key = key.strip()
    if scheme.lower() != BearerKeyAuthentication.keyword.lower() or not key or " " in key:
        raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
    return key


def cached_credentials(key: str):
    """(user, api_key) from this process's key cache without touching the database, or None when the
    database must be asked (authenticate); raises for what cannot be a key."""
    found = api_key_cached(key=key)
    if found is NOT_CACHED:
        return None
    if found is None:
        raise exceptions.AuthenticationFailed(INVALID)
    last_used.recorder.note(found.pk)
    return found.owner, found


def credentials(key: str):
    """(user, api_key) for a valid key (the cache, else the database); raises otherwise."""
    api_key = api_key_authenticate(key=key)
    if api_key is None:
        raise exceptions.AuthenticationFailed(INVALID)
    return api_key.owner, api_key


class BearerKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        """(user, api_key) for a valid key; None when no Authorization header; raises when it is wrong."""
        key = bearer_key(request)
        return None if key is None else credentials(key)

    def authenticate_header(self, request) -> str:
        return self.keyword
