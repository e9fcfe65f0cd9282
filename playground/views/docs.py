"""Docs: where the OpenAPI page is, and curl snippets that use this server's own address."""
from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse
from django.urls import reverse

from inference import selectors as model_selectors


@login_required
def docs(request):
    base = request.build_absolute_uri("/").rstrip("/")
    models = model_selectors.model_list(owner=request.user)
    default = next(m.api_id for m in models if m.default_model)
    own = [m.api_id for m in models if not m.read_only]
    context = {
        "base": base,
        "docs_url": request.build_absolute_uri(reverse("api-docs")),
        "openapi_url": request.build_absolute_uri(reverse("openapi")),
        "default_model": default,
        "own_model": own[-1] if own else "my-model",
    }
    return TemplateResponse(request, "playground/docs.html", context)
