"""The ONE place that turns errors into the v1 error object (docs/api.md: Errors).

Used by DRF views (EXCEPTION_HANDLER), by Django's 404/500 handlers for /v1/ and /openai/ paths, and by
streaming code that must report an error inside an event stream.
"""
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from inference.engine import errors as engine_errors
from tigercity.errors import ApiError

log = logging.getLogger(__name__)

try:
    from redis.exceptions import ConnectionError as _RedisConnectionError, TimeoutError as _RedisTimeoutError

    REDIS_UNREACHABLE: tuple[type[BaseException], ...] = (_RedisConnectionError, _RedisTimeoutError)
except ImportError:  # no Redis client installed: no Redis to be unreachable
    REDIS_UNREACHABLE = ()

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

ENGINE_STATUS = {
    engine_errors.ContextLengthExceeded: 400,
    engine_errors.UnknownBaseModel: 404,
    engine_errors.QueueFull: 503,
    engine_errors.EngineUnavailable: 503,
    engine_errors.CheckpointError: 503,  # a base model that failed to load
}


def error_body(status: int, message: str, *, param=None, code=None, type_=None) -> dict:
    return {
        "error": {
            "message": message,
            "type": type_ or TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }


def describe(exc: BaseException) -> tuple[int, dict, dict]:
    """(status, body, headers) for any exception; unexpected ones are logged and answered as a plain 500."""
    if isinstance(exc, ApiError):
        body = error_body(exc.status, exc.message, param=exc.param, code=exc.code, type_=exc.type)
        return exc.status, body, exc.headers
    if isinstance(exc, engine_errors.EngineError):
        status = ENGINE_STATUS.get(type(exc), 500)
        if isinstance(exc, engine_errors.CheckpointError):  # its text holds the server's paths: log it only
            log.error("base model unavailable: %s", exc)
            return status, error_body(status, "This base model failed to load on this server; its requests are "
                                              "refused until the operator fixes it (GET /v1/health lists it).",
                                      code=exc.code), {}
        # A base that failed to load stays failed until the operator fixes it: retrying soon is useless.
        retry = status == 503 and not isinstance(exc, engine_errors.CheckpointError)
        headers = {"Retry-After": "1"} if retry else {}
        if status == 500:
            log.error("engine error", exc_info=exc)
        return status, error_body(status, str(exc), code=exc.code), headers
    if isinstance(exc, drf.ValidationError):
        param, message = _first_validation_error(exc.detail)
        return 400, error_body(400, message, param=param, code="invalid_value"), {}
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return 401, error_body(401, str(exc.detail), code="invalid_api_key"), {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, drf.Throttled):
        headers = {"Retry-After": str(int(exc.wait or 1))}
        return 429, error_body(429, "Too many requests; retry later.", code="rate_limited"), headers
    if isinstance(exc, drf.APIException):
        status = exc.status_code
        code = exc.default_code if isinstance(exc.default_code, str) else None
        return status, error_body(status, _text(exc.detail), code=code), {}
    if isinstance(exc, RequestDataTooBig):
        return 413, error_body(413, "The request body is larger than the server's limit (TIGER_MAX_BODY_BYTES).",
                               code="body_too_large"), {}
    if isinstance(exc, Http404):
        return 404, error_body(404, "Not found.", code="not_found"), {}
    if isinstance(exc, REDIS_UNREACHABLE):  # keys and rate limits need it: refused, never let through
        log.error("the shared cache (Redis) cannot be reached: %s", exc)
        return 503, error_body(503, "The server's shared cache (Redis) cannot be reached; retry shortly.",
                               code="shared_cache_unavailable"), {"Retry-After": "5"}
    log.error("unexpected error", exc_info=exc)
    return 500, error_body(500, "The server hit an unexpected error. It has been logged.", code="internal_error"), {}


def _text(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_text(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_text(v)}" for k, v in detail.items())
    return str(detail)


def _first_validation_error(detail, prefix: str = "") -> tuple[str | None, str]:
    """The first failing field as a dotted path, and a message that names it."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return (prefix or None), _first_validation_error(value, prefix)[1]
            if isinstance(key, int) or str(key).isdigit():  # ListField errors are keyed by index
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            return _first_validation_error(value, path)
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, (dict, list)):
            index = next((i for i, d in enumerate(detail) if d), 0)
            return _first_validation_error(detail[index], f"{prefix}[{index}]" if prefix else f"[{index}]")
        message = str(first)
        if prefix and not message.startswith(prefix):
            message = f"{prefix}: {message}"
        return (prefix or None), message
    return (prefix or None), str(detail)


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception raised in a view becomes the v1 error object."""
    status, body, headers = describe(exc)
    return Response(body, status=status, headers=headers)


def json_404(request, exception=None):
    return JsonResponse(error_body(404, f"No such path: {request.path}", code="not_found"), status=404)


def json_500(request):
    return JsonResponse(error_body(500, "The server hit an unexpected error. It has been logged.",
                                   code="internal_error"), status=500)
