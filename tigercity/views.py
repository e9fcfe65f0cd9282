"""Project-level views: health, and 404/500 pages that are JSON under the API prefixes."""
from django.http import JsonResponse
from django.views import defaults

from tigercity.api_handler import is_api_path
from tigercity.error_responses import error_body, json_404, json_500


def _is_api(request) -> bool:
    return is_api_path(request.path)


def not_found(request, exception=None):
    if _is_api(request):
        return json_404(request, exception)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """400 for what Django refuses before any view (a Host not in ALLOWED_HOSTS, a malformed request)."""
    if _is_api(request):
        return JsonResponse(error_body(400, "Bad request: the Host header or the request is not acceptable.",
                                       code="bad_request"), status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if _is_api(request):
        return json_500(request)
    return defaults.server_error(request)


def health(request):
    from inference import runtime

    return JsonResponse({"status": "ok", "engine": runtime.status()})
