"""The Fine-tune panel of an own model's page: start a job on a dataset, follow it, cancel it.

Live progress arrives over the page's websocket (the user's job events, inference/job_events.py);
the panel is rendered here at page load, after Start and Cancel, and once when the socket opens.
"""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from inference import datasets
from inference import selectors as model_selectors
from inference.catalog import base_model
from inference.finetune_jobs import METHODS, auto_hyperparameters, job_cancel, job_create, job_list
from inference.models import FineTuneEvent, FineTuneJob
from playground.views.common import error_text, field_errors, inline, post_login_required
from tigercity.errors import ApiError

HYPER_FIELDS = (("n_epochs", "Epochs", int), ("batch_size", "Batch size", int),
                ("learning_rate_multiplier", "Learning-rate multiplier", float), ("beta", "Beta (DPO)", float))
# The API's param of an error -> the panel's field that shows it inline (hyperparameters by their last part).
PARAM_FIELDS = {"training_file": "training_file", "preference_file": "preference_file", "validation_file": "validation_file",
                "seed": "seed", "early_stopping": "early_stopping_patience",
                "early_stopping.threshold": "early_stopping_threshold", "early_stopping.patience": "early_stopping_patience",
                "integrations": "wandb_project", "integrations[0]": "wandb_project",
                "integrations[0].wandb.project": "wandb_project", "integrations[0].wandb.entity": "wandb_entity",
                "integrations[0].wandb.api_key": "wandb_api_key"}
SECRET_FIELDS = ("wandb_api_key",)  # never rendered back into the form
METHOD_LABELS = {"supervised": "Supervised", "dpo": "DPO (preferences)", "supervised+dpo": "Both: supervised, then DPO"}
LOSS_KEYS = ("train_loss", "dpo_loss")


def own_model_or_404(user, ref: str):
    try:
        model = model_selectors.model_get(owner=user, ref=ref)
    except ApiError:
        raise Http404("No such model.") from None
    if model.read_only:
        raise Http404("Base models cannot be fine-tuned; copy one first.")
    return model


def loss_points(job: FineTuneJob | None) -> list[list[float]]:
    """[step, loss] of the job's metrics events so far: the chart's starting points."""
    if job is None:
        return []
    points = []
    for data in FineTuneEvent.objects.filter(job=job, type="metrics").order_by("pk").values_list("data", flat=True):
        loss = next((data.get(k) for k in LOSS_KEYS if isinstance((data or {}).get(k), (int, float))), None)
        if loss is not None:
            points.append([data.get("step", 0), loss])
    return points


def progress(job: FineTuneJob | None) -> int:
    if job is None:
        return 0
    if job.status == "succeeded":
        return 100
    return int(100 * job.step / job.total_steps) if job.total_steps else 0


def panel_context(user, model, **extra) -> dict:
    files = list(datasets.file_list(owner=user).order_by("-created_at"))
    jobs = list(job_list(owner=user, model=model)[:10])
    current = jobs[0] if jobs else None
    demo = bool(getattr(base_model(model.base_name), "is_demo", False))
    auto = auto_hyperparameters("dpo", 60, demo=demo)
    supervised = auto_hyperparameters("supervised", 60, demo=demo)["learning_rate_multiplier"]
    if supervised != auto["learning_rate_multiplier"]:
        auto["learning_rate_multiplier"] = f"{supervised:g}, DPO {auto['learning_rate_multiplier']:g}"
    return {
        "model": model, "jobs": jobs, "job": current, "all_files": files, "ft_errors": {},
        "validation_percent": round(100 * settings.TIGER["VALIDATION_SHARE"]), "active": current is not None and current.status in FineTuneJob.ACTIVE,
        "progress": progress(current), "points": loss_points(current),
        "supervised_files": [f for f in files if f.kind == "supervised"],
        "preference_files": [f for f in files if f.kind == "preference"],
        "methods": [(m, METHOD_LABELS[m]) for m in METHODS],
        "hyper_fields": [(name, label, auto[name]) for name, label, _ in HYPER_FIELDS],
        "ft_values": {}, **extra,
    }


def _number(raw: str, kind):
    try:
        return kind(raw)
    except ValueError:
        return raw  # job_create names the field and what it needs


def job_request(model, post) -> dict:
    """The form as the body of POST /v1/fine_tuning/jobs (blank fields stay "auto" or unset)."""
    kind = post.get("method", "supervised")
    hyper = {name: _number(post[name].strip(), cast) for name, _, cast in HYPER_FIELDS if post.get(name, "").strip()}
    dpo_hyper = dict(hyper)
    hyper.pop("beta", None)
    data = {"model": model.slug, "method": {"type": kind}}
    if kind in ("supervised", "supervised+dpo"):
        data["training_file"] = post.get("training_file", "")
        data["method"]["supervised"] = {"hyperparameters": hyper}
    if kind in ("dpo", "supervised+dpo"):
        data["training_file" if kind == "dpo" else "preference_file"] = post.get("preference_file", "")
        data["method"]["dpo"] = {"hyperparameters": dpo_hyper}
    if post.get("validation_file", ""):
        data["validation_file"] = post["validation_file"]
    if post.get("seed", "").strip():
        data["seed"] = _number(post["seed"].strip(), int)
    early = {key: _number(post[f"early_stopping_{key}"].strip(), cast) for key, cast in (("threshold", float), ("patience", int))
             if post.get(f"early_stopping_{key}", "").strip()}
    if early:
        data["early_stopping"] = early
    wandb = {key: post[f"wandb_{key}"].strip() for key in ("project", "entity", "api_key") if post.get(f"wandb_{key}", "").strip()}
    if wandb:
        data["integrations"] = [{"type": "wandb", "wandb": wandb}]
    return data


def form_errors(exc: ApiError, method: str) -> tuple[dict[str, str], str]:
    """({field: message} for the error shown at its field, the message for the panel's top otherwise)."""
    errors = {}
    for param, message in field_errors(exc).items():
        field = PARAM_FIELDS.get(param)
        if param.startswith("method.") and ".hyperparameters." in param:
            field = param.rsplit(".", 1)[-1]
        if field == "training_file" and method == "dpo":
            field = "preference_file"  # a DPO job's training file is the form's preference dataset
        if param in ("integrations", "integrations[0]"):
            message = "Name a W&B project to log to: the entity and the API key go with it."
        if field:
            errors[field] = message
    return errors, "" if errors else error_text(exc)[1]


@login_required
def finetune_panel(request, ref: str):
    model = own_model_or_404(request.user, ref)
    return TemplateResponse(request, "playground/_finetune.html", panel_context(request.user, model))


@post_login_required
def finetune_start(request, ref: str):
    model = own_model_or_404(request.user, ref)
    try:
        job_create(owner=request.user, data=job_request(model, request.POST))
    except ApiError as exc:
        if not request.htmx:
            messages.error(request, error_text(exc)[1])
            return redirect("model", ref=model.slug)
        status, _ = error_text(exc)
        errors, message = form_errors(exc, request.POST.get("method", "supervised"))
        values = {k: v for k, v in request.POST.items() if k not in SECRET_FIELDS}
        context = panel_context(request.user, model, error=message, ft_errors=errors, ft_values=values)
        return inline(TemplateResponse(request, "playground/_finetune.html", context, status=status))
    if not request.htmx:
        return redirect("model", ref=model.slug)
    return TemplateResponse(request, "playground/_finetune.html", panel_context(request.user, model))


@post_login_required
def finetune_cancel(request, ref: str, job_id: str):
    model = own_model_or_404(request.user, ref)
    if not job_list(owner=request.user, model=model).filter(pk=job_id).exists():
        raise Http404("No such job.")
    error = ""
    try:
        job_cancel(owner=request.user, job_id=job_id)
    except ApiError as exc:
        error = error_text(exc)[1]
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("model", ref=model.slug)
    return TemplateResponse(request, "playground/_finetune.html", panel_context(request.user, model, error=error))
