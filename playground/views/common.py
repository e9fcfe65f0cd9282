"""What every Playground view shares: readable error messages and htmx-aware rendering."""
import logging

from django.template.response import TemplateResponse
from rest_framework import serializers

from tigercity.error_responses import describe

log = logging.getLogger(__name__)

# htmx does not swap 4xx/5xx answers by default; an inline error partial carries this header so the
# page's script (static/playground/app.js) swaps it into place like a success.
INLINE_ERROR_HEADER = "X-Inline-Error"


def error_text(exc: BaseException) -> tuple[int, str]:
    """(status, message) for any error a service, a serializer or the engine raised: the v1 API's words."""
    status, body, _ = describe(exc)
    return status, body["error"]["message"]


def field_errors(exc: BaseException) -> dict[str, str]:
    """{field: message} for a serializer's ValidationError or a domain error naming its param ("" = the form)."""
    if isinstance(exc, serializers.ValidationError) and isinstance(exc.detail, dict):
        errors = {}
        for field, messages in exc.detail.items():
            first = messages[0] if isinstance(messages, list) and messages else messages
            errors["" if field == "non_field_errors" else field] = str(first)
        return errors
    _, message = error_text(exc)
    param = getattr(exc, "param", None) or ""
    return {param: message}


def inline(response: TemplateResponse) -> TemplateResponse:
    """Mark an error partial as meant to be swapped in (see INLINE_ERROR_HEADER)."""
    response[INLINE_ERROR_HEADER] = "1"
    return response


def render_error(request, exc: BaseException, *, template: str = "playground/_alert.html") -> TemplateResponse:
    """A readable error: an inline alert for htmx, a page otherwise. Never raw JSON, never a traceback."""
    status, message = error_text(exc)
    if request.htmx:
        return inline(TemplateResponse(request, template, {"message": message, "status": status}, status=status))
    return TemplateResponse(request, "playground/error.html", {"message": message, "status": status}, status=status)


def model_event(model) -> dict:
    """The HX-Trigger detail of a model just created or trained: what the page's model pickers show."""
    return {"key": model.slug, "name": model.name, "revision": model.revision}
