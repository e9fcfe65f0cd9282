"""Async API views (generation and training run for seconds and must not hold Django's one sync thread).

DRF views are synchronous, so these few endpoints use this decorator instead: the same Bearer
authentication class, a strict JSON body, and the same one exception handler (tigercity.error_responses).
"""
import functools
import json

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf

from apikeys.authentication import bearer_key, cached_credentials, credentials
from apikeys.throttling import check_rate
from tigercity import cache as shared_cache
from tigercity.error_responses import describe
from tigercity.parsers import NESTED_TOO_DEEP


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def json_body(request) -> dict:
    """The request body as a JSON object; 415/413/400 otherwise."""
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise drf.UnsupportedMediaType(content_type or "none")
    try:
        data = json.loads(request.body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise drf.ParseError(f"The body is not valid JSON: {e}") from None
    except RecursionError:
        raise drf.ParseError(NESTED_TOO_DEEP) from None
    if not isinstance(data, dict):
        raise drf.ParseError("The body must be a JSON object.")
    return data


def _credentials(request):
    """(user, key) of the Bearer key (the key cache, else the database); raises otherwise."""
    key = bearer_key(request)
    if key is None:
        raise drf.NotAuthenticated("Authentication credentials were not provided: use 'Authorization: Bearer <api key>'.")
    return credentials(key)


def _within_rate(request) -> None:
    wait = check_rate(request)
    if wait is not None:
        raise drf.Throttled(wait)


def _authenticate(request) -> None:
    """Sets request.user and request.auth from the Bearer key, within the key's rate limit; raises otherwise."""
    request.user, request.auth = _credentials(request)
    _within_rate(request)


async def authenticate(request) -> None:
    """_authenticate for an async view. When the shared cache is this process's memory (no Redis), a key
    this process has checked costs no I/O at all: it is checked, and its rate limit counted, on the
    event loop itself. Otherwise (the database, or Redis) in one hop to a thread."""
    if shared_cache.in_process(shared_cache.shared()):
        key = bearer_key(request)
        found = cached_credentials(key) if key is not None else None
        if found is not None:
            request.user, request.auth = found
            _within_rate(request)
            return
    await sync_to_async(_authenticate)(request)


def error_response(exc: BaseException) -> JsonResponse:
    status, body, headers = describe(exc)
    return JsonResponse(body, status=status, headers=headers)


def async_api(*, methods: tuple[str, ...]):
    """Decorate `async def view(request, ...)`: authenticates, checks the method, maps every error."""

    def decorate(view):
        @functools.wraps(view)
        async def wrapper(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise drf.MethodNotAllowed(request.method)
                await authenticate(request)
                return await view(request, *args, **kwargs)
            except Exception as exc:  # the one handler decides what the client sees
                return error_response(exc)

        return csrf_exempt(wrapper)

    return decorate
