"""What every Playground view shares: readable error messages and htmx-aware rendering."""
import functools
import logging
from urllib.parse import urlparse

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework import serializers

from tigercity.error_responses import describe

log = logging.getLogger(__name__)

# htmx does not swap 4xx/5xx answers by default; an inline error partial carries this header so the
# page's script (static/playground/app.js) swaps it into place like a success.
INLINE_ERROR_HEADER = "X-Inline-Error"
# A POST from a page whose session has ended: the page keeps what the user wrote and offers to sign in
# again, returning to itself (never to the POST's own address, which cannot be opened after sign-in).
SESSION_ENDED_HEADER = "X-Session-Ended"
SESSION_ENDED = "Your session has ended. Sign in again to continue: what you wrote is kept."


def form_number(raw: str) -> int | None:
    """A form field's id or count: 1 to 9 ASCII digits, else None. Longer strings of digits would be
    over the database's integers, and over 4300 digits int() itself raises (a 500)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


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


def _session_ended(request):
    if request.headers.get("HX-Request"):
        response = HttpResponse(f'<p data-error-message>{SESSION_ENDED}</p>', status=401)
        response[SESSION_ENDED_HEADER] = "1"
        return response
    referer = request.headers.get("Referer", "")
    back = urlparse(referer).path if url_has_allowed_host_and_scheme(referer, {request.get_host()}) else "/"
    return redirect_to_login(back or "/")


def post_login_required(view):
    """require_POST + a signed-in session. Without one: 401 for the page's scripts, or sign-in and back."""
    if iscoroutinefunction(view):
        async def wrapper(request, *args, **kwargs):
            user = await request.auser()
            if not user.is_authenticated:
                return _session_ended(request)
            return await view(request, *args, **kwargs)
        markcoroutinefunction(wrapper)
    else:
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _session_ended(request)
            return view(request, *args, **kwargs)
    return require_POST(functools.wraps(view)(wrapper))
