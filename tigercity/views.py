"""Project-level views: health, and 404/500 pages that are JSON under the API prefixes."""
from django.http import JsonResponse
from django.views import defaults

from tigercity.error_responses import json_404, json_500

API_PREFIXES = ("/v1/", "/openai/")


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES) or request.path in ("/v1", "/openai")


def not_found(request, exception=None):
    if _is_api(request):
        return json_404(request, exception)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return json_500(request)
    return defaults.server_error(request)


def health(request):
    from inference import runtime

    return JsonResponse({"status": "ok", "engine": runtime.status()})
