"""Models: the base models and the user's own; create, edit, delete, copy, download an adapter."""
from dataclasses import asdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from rest_framework import serializers

from inference import selectors as model_selectors
from inference import services as model_services
from inference.adapter_export import adapter_archive
from inference.catalog import BaseModel
from inference.engine.types import TARGET_MODULES
from inference.model_interface import ModelInterface
from inference.validation import ModelCreateSerializer, ModelUpdateSerializer, validated
from playground import selectors, services
from playground.charts import training_charts
from playground.forms import api_body
from playground.services import model_copy
from playground.views.finetune import panel_context
from playground.views.common import field_errors, inline, post_login_required, render_error
from tigercity.errors import ApiError

CREATE_FIELDS = {"text": ("name", "description", "parent_model", "target_modules"), "ints": ("rank",),
                 "floats": ("alpha", "dropout", "learning_rate")}
UPDATE_FIELDS = {"text": ("description",), "ints": ("learning_steps",),
                 "floats": ("temperature", "top_p", "learning_rate", "beta", "epsilon"), "keep_blank": ("description",)}
TARGET_MODULE_LABELS = {
    "qv": "qv: query and value projections",
    "qkvo": "qkvo: all attention projections",
    "qkvo_ffn": "qkvo_ffn: attention and feed-forward projections",
}


def _catalog(user) -> dict:
    found = model_selectors.model_list(owner=user)
    bases = [m for m in found if m.read_only]
    own = [m for m in found if not m.read_only]
    trained = selectors.last_trained(owner=user)
    default = next((m for m in bases if m.default_model), bases[0])
    return {
        "bases": bases,
        "own": [{"model": m, "last_trained": trained.get(m.pk)} for m in own],
        "parents": [{"value": m.name if m.read_only else m.api_id, "model": m,
                     "is_base": m.read_only, "defaults": _parent_defaults(m)} for m in found],
        "default_base": default,
        "target_modules": [(key, TARGET_MODULE_LABELS.get(key, key)) for key in TARGET_MODULES],
    }


def _parent_defaults(parent: ModelInterface) -> dict:
    """What the API chooses for a model created from `parent` when the request leaves the fields out."""
    return {**asdict(parent.child_lora()), "learning_rate": parent.learning_rate}


def _create_defaults(parent: BaseModel) -> dict:
    """The create form's initial values."""
    return {"parent_model": parent.name, **_parent_defaults(parent)}


@login_required
def models(request):
    """GET: the lists and an empty create form. POST: create, with the API's messages next to the fields."""
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        values = request.POST
        try:
            data = validated(ModelCreateSerializer, api_body(request.POST, **CREATE_FIELDS))
            created = model_services.model_create(owner=request.user, **data)
        except (serializers.ValidationError, ApiError) as exc:
            errors = field_errors(exc)
            status = 400 if isinstance(exc, serializers.ValidationError) else exc.status
        else:
            messages.success(request, f"Created {created.name} (id {created.slug}) at revision 0.")
            if not request.htmx:
                return redirect("models")
            values = {}
    context = {**_catalog(request.user), "values": values, "errors": errors}
    if not values:
        context["values"] = _create_defaults(context["default_base"])
    template = "playground/_models_body.html" if request.htmx else "playground/models.html"
    response = TemplateResponse(request, template, context, status=status)
    return inline(response) if errors else response


def _model_or_404(user, ref: str):
    try:
        return model_selectors.model_get(owner=user, ref=ref)
    except ApiError:
        raise Http404("No such model.") from None


@login_required
def model_detail(request, ref: str):
    """One model: its description and defaults (editable for own models), revisions and training chart."""
    model = _model_or_404(request.user, ref)
    is_base = model.read_only
    values, errors, saved, status = {}, {}, False, 200
    if request.method == "POST":
        values = request.POST
        try:
            data = validated(ModelUpdateSerializer, api_body(request.POST, **UPDATE_FIELDS), partial=True)
            model = model_services.model_update(model=model, **data)
        except (serializers.ValidationError, ApiError) as exc:
            errors = field_errors(exc)
            status = 400 if isinstance(exc, serializers.ValidationError) else exc.status
        else:
            saved, values = True, {}
    if not values and not is_base:
        values = {field: getattr(model, field) for field in model_services.EDITABLE}
    context = {"model": model, "is_base": is_base, "values": values, "errors": errors, "saved": saved}
    if request.htmx and request.method == "POST":
        runs = selectors.trained_runs(model=model) if saved else []
        context["last_trained"] = runs[-1].created_at if runs else None  # the About card is swapped in too
        response = TemplateResponse(request, "playground/_model_edit.html", context, status=status)
        return inline(response) if errors else response
    if not is_base:
        runs = selectors.trained_runs(model=model)
        by_revision = {run.to_revision: run for run in runs}
        context.update(
            revisions=[{"revision": r, "run": by_revision.get(r.number)}
                       for r in model_selectors.revision_list(model=model).order_by("-number")],
            charts=training_charts(runs),
            last_trained=runs[-1].created_at if runs else None,
            **{k: v for k, v in panel_context(request.user, model).items() if k != "model"},
        )
    return TemplateResponse(request, "playground/model_detail.html", context, status=status)


@post_login_required
def revision_restore(request, ref: str, number: int):
    """Restore a kept revision: a new revision equal to it (earlier revisions stay as they are)."""
    model = _model_or_404(request.user, ref)
    if model.read_only:
        raise Http404("No such model.")
    try:
        revision = services.revision_restore(model=model, number=number)
    except ApiError as exc:
        return render_error(request, exc)
    messages.success(request, f"Restored revision {number}: {model.name} is now at revision {revision.number}, "
                              f"whose weights equal revision {number}.")
    return redirect("model", ref=model.slug)


@post_login_required
def model_delete(request, ref: str):
    model = _model_or_404(request.user, ref)
    try:
        model_services.model_delete(model=model)
    except ApiError as exc:
        return render_error(request, exc)
    messages.success(request, f"Deleted {model.name} and its weights.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("models"))
    return redirect("models")


NEXT_PAGES = {"chat": "chat", "train": "train", "models": "models"}


@post_login_required
def model_copy_view(request):
    """One click: an own copy of a (base) model, then back to the page that asked, with the copy selected."""
    parent = _model_or_404(request.user, request.POST.get("parent", ""))
    try:
        copy = model_copy(owner=request.user, parent=parent)
    except ApiError as exc:
        return render_error(request, exc)
    messages.success(request, f"Created {copy.name}: your own copy of {parent.name}, at revision 0. "
                              "It answers exactly like its parent until you train it.")
    target = request.POST.get("next", "models")
    if target in NEXT_PAGES:
        url = f"{reverse(NEXT_PAGES[target])}?model={copy.slug}"
    elif url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        url = target
    else:
        url = reverse("models")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
async def model_adapter(request, ref: str):
    """The adapter zip, for a signed-in session: the same code path as GET /v1/models/{id}/adapter."""
    user = await request.auser()
    try:
        archive = await adapter_archive(owner=user, model_ref=ref, revision=request.GET.get("revision"))
        return StreamingHttpResponse(archive.chunks, content_type=archive.content_type, headers=archive.headers)
    except Exception as exc:  # a readable page instead of JSON; describe() logs anything unexpected
        return render_error(request, exc)
