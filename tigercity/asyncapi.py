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

from apikeys.authentication import BearerKeyAuthentication
from apikeys.throttling import check_rate
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


def _authenticate(request):
    """(user, key) of the Bearer key, within the key's rate limit; raises otherwise."""
    result = BearerKeyAuthentication().authenticate(request)
    if result is None:
        raise drf.NotAuthenticated("Authentication credentials were not provided: use 'Authorization: Bearer <api key>'.")
    request.user, request.auth = result
    wait = check_rate(request)
    if wait is not None:
        raise drf.Throttled(wait)
    return result


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
                request.user, request.auth = await sync_to_async(_authenticate)(request)  # one hop to the sync thread
                return await view(request, *args, **kwargs)
            except Exception as exc:  # the one handler decides what the client sees
                return error_response(exc)

        return csrf_exempt(wrapper)

    return decorate
