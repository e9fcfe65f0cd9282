"""Reads for API keys (always scoped to one owner)."""
from apikeys.models import ApiKey


def api_key_list(*, owner):
    return ApiKey.objects.filter(owner=owner)
