"""Blind comparison on the Train page: prompt sets, picks between two revisions, win rates, DPO in one click.

The section (templates/playground/_compare.html) is rendered with the Train page and again after each
change here; the answers themselves stream over the page's websocket (static/playground/compare.js).
Services: playground/comparisons.py.
"""
from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from playground import comparisons, selectors
from playground.views.common import error_text, field_errors, form_number, inline, post_login_required
from playground.views.finetune import own_model_or_404
from tigercity.errors import ApiError


def compare_context(owner, model) -> dict:
    """What _compare.html shows for an own model (besides `model` itself)."""
    table = comparisons.standings(model=model)
    numbers = sorted((r.number for r in model.revisions.all() if r.number < model.revision), reverse=True)
    # Revision 0 is always kept and holds the parent's weights as they were copied: the parent to compare with.
    baselines = [(n, "the one before" if i == 0 else "", f"the parent, {model.parent_name}" if n == 0 else "")
                 for i, n in enumerate(numbers)]
    sets = list(selectors.prompt_set_list(owner=owner))
    return {"prompt_sets": sets, "prompt_set_data": {str(s.pk): s.prompts for s in sets},
            "baselines": baselines, "standings": table, "win_chart": comparisons.win_rate_chart(table),
            "trainable": len(comparisons.trainable_picks(model=model)),
            "set_help": f"One prompt per line: up to {comparisons.MAX_PROMPTS} prompts of up to "
                        f"{comparisons.MAX_PROMPT_CHARS} characters each."}


def _section(request, model, status: int = 200, **extra) -> TemplateResponse:
    context = {"model": model, **compare_context(request.user, model), **extra}
    return TemplateResponse(request, "playground/_compare.html", context, status=status)


@post_login_required
def prompt_set_create(request, ref: str):
    model = own_model_or_404(request.user, ref)
    try:
        created = comparisons.prompt_set_create(owner=request.user, name=request.POST.get("name", ""),
                                                prompts_text=request.POST.get("prompts", ""))
    except ApiError as exc:
        if not request.htmx:
            messages.error(request, error_text(exc)[1])
            return redirect(reverse("train") + f"?model={model.slug}#compare")
        return inline(_section(request, model, status=exc.status, set_errors=field_errors(exc),
                               set_values=request.POST))
    if not request.htmx:
        return redirect(reverse("train") + f"?model={model.slug}#compare")
    return _section(request, model, selected_set=created.pk, saved_set=created)


@post_login_required
def prompt_set_delete(request, ref: str, pk: int):
    model = own_model_or_404(request.user, ref)
    comparisons.prompt_set_delete(prompt_set=selectors.prompt_set_get(owner=request.user, pk=pk))
    if not request.htmx:
        return redirect(reverse("train") + f"?model={model.slug}#compare")
    return _section(request, model)


@post_login_required
def compare_pick(request, ref: str):
    """Record a pick; answers with the reveal (which revision wrote which answer) and the new standings."""
    model = own_model_or_404(request.user, ref)
    raw_set = request.POST.get("prompt_set", "")
    prompt_set = selectors.prompt_set_get(owner=request.user, pk=form_number(raw_set) or 0) if raw_set else None
    try:
        pick = comparisons.pick_record(owner=request.user, model=model, prompt_set=prompt_set, data=request.POST)
    except ApiError as exc:
        status, message = error_text(exc)
        return inline(TemplateResponse(request, "playground/_alert.html", {"message": message, "status": status},
                                       status=status))
    context = {"model": model, **compare_context(request.user, model), "pick": pick, "winner": pick.winner[0],
               "loser": pick.loser[0]}
    return TemplateResponse(request, "playground/_compare_reveal.html", context)


@post_login_required
def compare_train(request, ref: str):
    """Send the unsent picks as preference training: a dataset of them, then a DPO fine-tuning job."""
    model = own_model_or_404(request.user, ref)
    try:
        job, count = comparisons.picks_train(owner=request.user, model=model)
    except ApiError as exc:
        status, message = error_text(exc)
        return inline(TemplateResponse(request, "playground/_alert.html", {"message": message, "status": status},
                                       status=status))
    context = {"model": model, **compare_context(request.user, model), "job": job, "sent": count}
    return TemplateResponse(request, "playground/_compare_trained.html", context)
