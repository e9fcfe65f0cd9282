"""Train by rating: sample N candidates for one prompt (over ws/chat/ with n=N), rate each, train, compare."""
import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse

from inference import selectors as model_selectors
from inference.models import TunedModel
from playground import selectors, services
from playground.charts import training_charts
from playground.views.compare import compare_context
from playground.views.common import error_text, form_number, inline, model_event, post_login_required
from tigercity.errors import ApiError, Conflict, InvalidRequest

SAMPLE_SIZES = (1, 2, 3, 4, 6, 8)  # 1: a single answer, rated like a thumbs in chat
DEFAULT_SAMPLES = 4
MAX_CANDIDATES = 16  # the API's n limit


def score_reward(score: int) -> float:
    """A 1-5 score as a reward from -1 to +1 (3 is neutral), so a lone rating still has the right sign."""
    return (score - 3) / 2


def _history(model: TunedModel) -> dict:
    runs = selectors.trained_runs(model=model)
    return {"charts": training_charts(runs), "runs": list(reversed(runs))}


@login_required
def train(request):
    """The page: the selected own model (or why a base model cannot be trained, with a copy button)."""
    found = model_selectors.model_list(owner=request.user)
    own = [m for m in found if not m.read_only]
    bases = [m for m in found if m.read_only]
    wanted = request.GET.get("model", "")
    selected = None
    if wanted:
        selected = next((m for m in found if m.api_id == wanted.lower()
                         or m.name.lower() == wanted.lower()), None)
    elif own:
        selected = own[-1]
    context = {"own": own, "bases": bases, "selected": selected, "missing_model": wanted if wanted and not selected else "",
               "selected_is_base": selected is not None and selected.read_only, "sample_sizes": SAMPLE_SIZES,
               "default_samples": DEFAULT_SAMPLES, "max_tokens_limit": settings.TIGER["MAX_TOKENS"]}
    if selected is not None and not selected.read_only:
        context.update(_history(selected), **compare_context(request.user, selected))
    return TemplateResponse(request, "playground/train.html", context)


def _responses(post) -> list[dict]:
    """The rated candidates of the form: content_<i> with reward_<i> (thumbs: +1/-1; score_<i>: 1-5)."""
    responses = []
    for i in range(MAX_CANDIDATES):
        content = post.get(f"content_{i}")
        if content is None:
            continue
        thumbs, score = post.get(f"thumbs_{i}", ""), form_number(post.get(f"score_{i}", ""))
        if thumbs in ("1", "-1"):
            responses.append({"content": content, "reward": float(thumbs)})
        elif score is not None and 1 <= score <= 5:
            responses.append({"content": content, "reward": score_reward(score)})
    return responses


def _unchanged_reason(responses: list[dict], reason: str) -> str:
    """Why a training changed nothing, in the Train page's words (the engine's reason otherwise)."""
    rewards = {r["reward"] for r in responses}
    if len(responses) > 1 and len(rewards) == 1:
        return "All ratings are equal: nothing to learn. Rate some candidates better than others."
    return reason[:1].upper() + reason[1:] + "." if reason else "The weights did not change."


@post_login_required
async def train_run(request, ref: str):
    """Train the model on the rated candidates; answers with the metrics, the new revision and the chart."""
    user = await request.auser()
    prompt, system = request.POST.get("prompt", ""), request.POST.get("system_prompt", "")
    messages = ([{"role": "system", "content": system}] if system.strip() else []) + \
               [{"role": "user", "content": prompt}]
    responses = _responses(request.POST)
    overrides = {}
    for name, kind in (("learning_rate", float), ("learning_steps", int)):
        raw = request.POST.get(name, "").strip()
        if raw:
            try:
                overrides[name] = kind(raw)
            except ValueError:
                overrides[name] = raw  # the serializer names the field and what it needs
    context = {"ref": ref}
    if not responses:
        context.update(error="Rate at least one candidate (thumbs or a score) before training.", status=400)
        return inline(TemplateResponse(request, "playground/_train_result.html", context, status=400))
    try:
        model, run = await services.rating_train(owner=user, model=ref, messages=messages, responses=responses,
                                                 **overrides)
    except Exception as exc:  # shown in the result panel; describe() logs anything unexpected
        status, context["error"] = error_text(exc)
        return inline(TemplateResponse(request, "playground/_train_result.html", context, status=status))
    context.update(model=model, run=run, metrics=run.metrics, rated=len(responses),
                   unchanged=None if run.changed else _unchanged_reason(responses, run.reason),
                   **await sync_to_async(_history)(model), **await sync_to_async(compare_context)(user, model))
    response = TemplateResponse(request, "playground/_train_result.html", context)
    response["HX-Trigger"] = json.dumps({"tiger:model-trained": model_event(model)})
    return response


@post_login_required
def train_undo(request, ref: str):
    """Undo the training that produced `revision` while it is still the model's current one."""
    context = {"ref": ref}
    raw = request.POST.get("revision", "")
    try:
        model = model_selectors.model_get(owner=request.user, ref=ref)
        if model.read_only:
            raise Conflict("Only your own models have trainings to undo.")
        revision = form_number(raw)
        if revision is None:
            raise InvalidRequest("revision must be the revision the training produced.", param="revision")
        restored = services.training_undo(model=model, revision=revision)
        if restored is None:
            raise Conflict(f"Revision {raw} was not produced by a training, so there is nothing to undo.")
    except ApiError as exc:
        status, context["error"] = error_text(exc)
        return inline(TemplateResponse(request, "playground/_train_result.html", context, status=status))
    context.update(model=model, undone=restored, **_history(model), **compare_context(request.user, model))
    response = TemplateResponse(request, "playground/_train_result.html", context)
    response["HX-Trigger"] = json.dumps({"tiger:model-trained": model_event(model)})
    return response
