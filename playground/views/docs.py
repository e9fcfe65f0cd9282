"""Docs: where the OpenAPI page is, and curl snippets that use this server's own address."""
from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse
from django.urls import reverse

from inference import selectors as model_selectors
from inference.catalog import BaseModel
from playground.selectors import model_key


@login_required
def docs(request):
    base = request.build_absolute_uri("/").rstrip("/")
    models = model_selectors.model_list(owner=request.user)
    default = next(model_key(m) for m in models if isinstance(m, BaseModel) and m.default_model)
    own = [model_key(m) for m in models if not isinstance(m, BaseModel)]
    context = {
        "base": base,
        "docs_url": request.build_absolute_uri(reverse("api-docs")),
        "openapi_url": request.build_absolute_uri(reverse("openapi")),
        "default_model": default,
        "own_model": own[-1] if own else "my-model",
    }
    return TemplateResponse(request, "playground/docs.html", context)
