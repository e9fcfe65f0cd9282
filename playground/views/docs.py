"""Docs: where the OpenAPI page is, curl snippets that use this server's own address, and the API
reference of the repository (docs/api.md) rendered as a page."""
from pathlib import Path

import markdown
from django.conf import settings
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


@login_required
def api_reference(request):
    """docs/api.md, the same text a reader of the repository sees (trusted: it ships with the code)."""
    text = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text(encoding="utf-8")
    html = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return TemplateResponse(request, "playground/api_reference.html", {"reference": html})
