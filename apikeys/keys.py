"""The key format: `tc-` + 43 url-safe characters (32 random bytes). Pure functions, no database."""
import hashlib
import secrets

from django.utils.crypto import constant_time_compare

KEY_PREFIX = "tc-"
SECRET_BYTES = 32
PREFIX_LENGTH = 11  # "tc-" + 8 characters: enough to recognise a leaked key in a list, useless to guess it
KEY_LENGTH = len(KEY_PREFIX) + 43


def generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str:
    return key[:PREFIX_LENGTH]


def looks_valid(key: str) -> bool:
    """Fail closed on anything that cannot be one of our keys, before touching the database."""
    return len(key) == KEY_LENGTH and key.startswith(KEY_PREFIX) and key.isascii()


def matches(key: str, hashed_key: str) -> bool:
    return constant_time_compare(digest(key), hashed_key)
