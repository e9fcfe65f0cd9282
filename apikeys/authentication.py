"""DRF authentication by `Authorization: Bearer <api key>`."""
from rest_framework import authentication, exceptions

from apikeys.services import api_key_authenticate


class BearerKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        """(user, api_key) for a valid key; None when no Authorization header; raises when it is wrong."""
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            scheme, _, key = header.decode("ascii").partition(" ")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The Authorization header must be ASCII.") from None
        if scheme.lower() != self.keyword.lower() or not key.strip() or " " in key.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        api_key = api_key_authenticate(key=key.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return api_key.owner, api_key

    def authenticate_header(self, request) -> str:
        return self.keyword
