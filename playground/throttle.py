"""Brakes on guessing passwords and making accounts, kept in Django's cache (shared through Redis when
REDIS_URL is set, per process otherwise; values are counters, keys are hashed). The rule (README:
Security):

- Sign-in: after TIGER_SIGNIN_FAILURES failed sign-ins for one username, or
  TIGER_SIGNIN_FAILURES_PER_ADDRESS from one client address, every sign-in for that username or from that
  address is refused with 429, the right password included, until TIGER_SIGNIN_LOCKOUT_SECONDS have
  passed since the last failure. A successful sign-in clears its username's count (not the address's).
- Sign-up: at most TIGER_SIGNUPS_PER_ADDRESS new accounts from one client address per
  TIGER_SIGNUP_WINDOW_SECONDS.

The client address is REMOTE_ADDR: behind a reverse proxy, run uvicorn with --proxy-headers and
--forwarded-allow-ips set to the proxy's address so that it is the client's, not the proxy's (or every
client shares the proxy's budget). `make run` passes --no-proxy-headers: a client on the same machine
could otherwise name any address in X-Forwarded-For and escape its address's budget.
"""
import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    return f"throttle:{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:32]}"


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _count(key: str) -> int:
    value = cache.get(key, 0)
    return value if isinstance(value, int) else 0


def _bump(key: str, timeout: int) -> None:
    cache.add(key, 0, timeout)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
    cache.touch(key, timeout)  # the lockout runs from the last failure


def signin_refusal(request, username: str) -> str | None:
    """Why a sign-in must be refused now (a message naming the limit), or None."""
    tiger = settings.TIGER
    wait = tiger["SIGNIN_LOCKOUT_SECONDS"]
    if _count(_key("signin-user", username.strip().lower())) >= tiger["SIGNIN_FAILURES"]:
        return (f"Too many failed sign-ins for this username (the limit is {tiger['SIGNIN_FAILURES']}, "
                f"TIGER_SIGNIN_FAILURES); try again in {wait} seconds.")
    if _count(_key("signin-address", client_address(request))) >= tiger["SIGNIN_FAILURES_PER_ADDRESS"]:
        return (f"Too many failed sign-ins from your address (the limit is {tiger['SIGNIN_FAILURES_PER_ADDRESS']}, "
                f"TIGER_SIGNIN_FAILURES_PER_ADDRESS); try again in {wait} seconds.")
    return None


def signin_failed(request, username: str) -> None:
    wait = settings.TIGER["SIGNIN_LOCKOUT_SECONDS"]
    _bump(_key("signin-user", username.strip().lower()), wait)
    _bump(_key("signin-address", client_address(request)), wait)


def signin_succeeded(username: str) -> None:
    cache.delete(_key("signin-user", username.strip().lower()))


def signup_refusal(request) -> str | None:
    tiger = settings.TIGER
    if _count(_key("signup-address", client_address(request))) >= tiger["SIGNUPS_PER_ADDRESS"]:
        return (f"Too many new accounts from your address (the limit is {tiger['SIGNUPS_PER_ADDRESS']} per "
                f"{tiger['SIGNUP_WINDOW_SECONDS']} seconds, TIGER_SIGNUPS_PER_ADDRESS); try again later.")
    return None


def signup_done(request) -> None:
    key = _key("signup-address", client_address(request))
    cache.add(key, 0, settings.TIGER["SIGNUP_WINDOW_SECONDS"])  # the window runs from the first account
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, settings.TIGER["SIGNUP_WINDOW_SECONDS"])
