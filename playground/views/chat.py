"""Chat: conversations kept per user; answers stream over ws/chat/; a thumbs up/down trains the model at once.

The browser drives a turn (static/playground/chat.js): POST the user's message here, generate over the
websocket, POST the finished answer here. Each POST answers with the rendered message.
"""
import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework import serializers

from inference import selectors as model_selectors
from inference.catalog import base_model
from inference.validation import GenerateSerializer, MessageSerializer
from playground import selectors, services
from playground.prompt_tokens import prompt_fit, too_long
from playground.forms import api_body
from playground.models import Message
from playground.views.common import error_text, field_errors, form_number, inline, model_event, post_login_required, render_error
from tigercity.errors import ApiError, InvalidRequest

FINISH_REASONS = ("stop", "length", "cancelled")


def _picker(user, wanted: str = "") -> dict:
    """The models to choose from and the one selected: `wanted` if it exists, else the catalog's default."""
    models = model_selectors.model_list(owner=user)
    keys = [m.api_id for m in models]
    wanted = wanted.strip().lower()
    selected = next((k for k, m in zip(keys, models) if wanted and (k == wanted or m.name.lower() == wanted)), None)
    missing = ""
    if selected is None:
        missing = wanted
        selected = next(m.api_id for m in models if m.default_model)
    items = [{"key": k, "model": m, "is_base": m.read_only} for k, m in zip(keys, models)]
    return {"models": items, "selected": selected, "missing_model": missing,
            "selected_is_base": next(i["is_base"] for i in items if i["key"] == selected)}


@login_required
def chat(request, pk: int | None = None):
    conversation = selectors.conversation_get(owner=request.user, pk=pk) if pk else None
    wanted = request.GET.get("model") or (conversation.model if conversation else "")
    turns = list(conversation.messages.all()) if conversation else []
    context = {
        **_picker(request.user, wanted),
        "conversation": conversation,
        "turns": turns,
        "saved_settings": conversation.settings if conversation else {},
        # a question without an answer: the page was left or reloaded while the answer was being written
        "interrupted": bool(turns) and turns[-1].role == Message.USER,
        "conversations": selectors.conversation_list(owner=request.user),
        "max_tokens_limit": settings.TIGER["MAX_TOKENS"],
    }
    return TemplateResponse(request, "playground/chat.html", context)


def _message_text(raw: str, role: str = "user") -> str:
    """The content as the API validates it (length limit), or the API's message."""
    serializer = MessageSerializer(data={"role": role, "content": raw})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["content"]


def _own_conversation(user, raw_id: str):
    """The user's conversation named by a form field ("" or not a number: a new one, None)."""
    if raw_id.isascii() and raw_id.isdigit():
        return selectors.conversation_get(owner=user, pk=form_number(raw_id) or 0)
    return None


SETTINGS_FIELDS = {"floats": ("temperature", "top_p"), "ints": ("max_tokens",)}


def _settings(post, *, model: str, content: str) -> dict:
    """The sampling settings of the form, checked by the API's own rules (raises its ValidationError)."""
    values = api_body(post, **SETTINGS_FIELDS)
    serializer = GenerateSerializer(data={"model": model, "messages": [{"role": "user", "content": content}],
                                          **values})
    serializer.is_valid(raise_exception=True)
    limit = settings.TIGER["MAX_TOKENS"]
    if values.get("max_tokens", 0) > limit:
        raise serializers.ValidationError({"max_tokens": [f"Ensure this value is less than or equal to {limit}."]})
    return values


def _settings_errors(exc: serializers.ValidationError) -> JsonResponse | None:
    """400 {"errors": {field: message}} when the errors are the settings' (shown at the fields), else None."""
    errors = field_errors(exc)
    if not errors or not set(errors) <= {"temperature", "top_p", "max_tokens"}:
        return None
    return JsonResponse({"errors": errors}, status=400)


@post_login_required
def chat_send(request):
    """Save the user's turn (starting a conversation on the first one); answers with the rendered turn."""
    try:
        content = _message_text(request.POST.get("content", ""))
        if not content.strip():
            raise InvalidRequest("Write a message first.", param="content")
        model = model_selectors.model_get(owner=request.user, ref=request.POST.get("model", ""))
        system_prompt = _message_text(request.POST.get("system_prompt", ""), role="system")
        key = model.api_id
        sampling = _settings(request.POST, model=key, content=content)  # before anything is saved
        conversation = _own_conversation(request.user, request.POST.get("conversation", ""))
        fit = prompt_fit(model=model, system_prompt=system_prompt, history=[], draft=content)
        if not fit.fits:
            return JsonResponse({"errors": {"content": too_long(fit, model_name=model.name)}}, status=400)
        if conversation is not None:
            services.conversation_configure(conversation=conversation, model=key, system_prompt=system_prompt,
                                            settings=sampling)
        else:
            conversation = services.conversation_start(owner=request.user, model=key, system_prompt=system_prompt,
                                                       first_message=content, settings=sampling)
        turn = services.message_add(conversation=conversation, role=Message.USER, content=content)
    except serializers.ValidationError as exc:
        return _settings_errors(exc) or render_error(request, exc)
    except ApiError as exc:
        return render_error(request, exc)
    context = {"turn": turn, "conversation": conversation,
               "conversations": selectors.conversation_list(owner=request.user)}
    response = TemplateResponse(request, "playground/_turn_sent.html", context)
    response["X-Conversation-Id"] = str(conversation.pk)
    response["X-Conversation-Url"] = reverse("conversation", args=[conversation.pk])
    return response


@post_login_required
def chat_count(request):
    """The tokens the conversation would take with the draft, against the model's context (the live count).

    {"tokens", "minimum", "context", "fits", "drops_turns"} (playground/prompt_tokens.py), and "refusal" (why
    sending is refused) when it does not fit; errors as
    {"error": message} with their status.
    """
    try:
        content = _message_text(request.POST.get("content", ""))
        system_prompt = _message_text(request.POST.get("system_prompt", ""), role="system")
        model = model_selectors.model_get(owner=request.user, ref=request.POST.get("model", ""))
        conversation = _own_conversation(request.user, request.POST.get("conversation", ""))
        history = selectors.conversation_turns(conversation) if conversation else []
        fit = prompt_fit(model=model, system_prompt=system_prompt, history=history, draft=content)
    except (Exception, serializers.ValidationError) as exc:  # describe() logs anything unexpected
        status, message = error_text(exc)
        return JsonResponse({"error": message}, status=status)
    refusal = {} if fit.fits else {"refusal": too_long(fit, model_name=model.name)}
    return JsonResponse({**fit.as_json(), **refusal})


@post_login_required
def chat_answer(request, pk: int):
    """Save a streamed answer once it is complete (or stopped); answers with it and its rating buttons."""
    conversation = selectors.conversation_get(owner=request.user, pk=pk)
    try:
        model = model_selectors.model_get(owner=request.user, ref=request.POST.get("model", ""))
        revision = request.POST.get("revision", "")
        reason = request.POST.get("finish_reason", "")
        turn = services.message_add(
            conversation=conversation, role=Message.ASSISTANT, content=request.POST.get("content", ""),
            model=model.api_id, revision=form_number(revision),
            finish_reason=reason if reason in FINISH_REASONS else "",
        )
    except ApiError as exc:
        return render_error(request, exc)
    return TemplateResponse(request, "playground/_turn.html", {"turn": turn})


@post_login_required
def conversation_delete(request, pk: int):
    conversation = selectors.conversation_get(owner=request.user, pk=pk)
    services.conversation_delete(conversation=conversation)
    return redirect("chat")


@post_login_required
async def answer_rate(request, pk: int):
    """Thumbs up/down: train the answering model on this answer now (reward +1 / -1), show the new revision.

    An answer of a base model cannot train it (read-only): the partial explains that and offers a one-click
    copy, which creates an own model from the base and trains the copy with the same rating.
    """
    user = await request.auser()
    message = await sync_to_async(selectors.message_get)(owner=user, pk=pk)
    raw = request.POST.get("reward", "")
    reward = {"1": 1.0, "+1": 1.0, "-1": -1.0}.get(raw)
    context = {"turn": message}
    if reward is None:
        context["error"] = "reward must be 1 (thumbs up) or -1 (thumbs down)."
        return inline(TemplateResponse(request, "playground/_rating.html", context, status=400))
    base = base_model(message.model)
    copy = base is not None and request.POST.get("copy") == "1"
    if base is not None and not copy:
        context.update(base=base, reward=raw)
        return TemplateResponse(request, "playground/_rating_copy.html", context)
    try:
        rated = await services.answer_rate(owner=user, message=message, reward=reward,
                                           copy_from=base if copy else None)
    except Exception as exc:  # shown next to the buttons; describe() logs anything unexpected
        status, context["error"] = error_text(exc)
        return inline(TemplateResponse(request, "playground/_rating.html", context, status=status))
    context.update(rated=rated, run=rated.run, metrics=rated.run.metrics)
    response = TemplateResponse(request, "playground/_rating.html", context)
    event = "tiger:model-created" if rated.copied else "tiger:model-trained"
    response["HX-Trigger"] = json.dumps({event: model_event(rated.model)})
    return response



@post_login_required
def answer_undo(request, pk: int):
    """Take back a rating: the model goes back to the revision before it (as a new revision), the buttons return.

    Refused (409, shown next to the rating) once the model has moved on: undo never discards newer training.
    """
    message = selectors.message_get(owner=request.user, pk=pk)
    model_ref = message.trained_model
    context = {"turn": message}
    try:
        restored = services.rating_undo(message=message)
    except ApiError as exc:
        _, context["error"] = error_text(exc)
        return inline(TemplateResponse(request, "playground/_rating.html", context, status=exc.status))
    context["undone"] = {"model": model_ref, "restored": restored}
    response = TemplateResponse(request, "playground/_rating.html", context)
    if restored is not None:
        model = model_selectors.model_get(owner=request.user, ref=model_ref)
        response["HX-Trigger"] = json.dumps({"tiger:model-trained": model_event(model)})
    return response


@login_required
def chat_turns(request, pk: int):
    """The turns after `after` (a message id): how another tab's new turns reach this one."""
    conversation = selectors.conversation_get(owner=request.user, pk=pk)
    raw = request.GET.get("after", "")
    after = form_number(raw)
    turns = conversation.messages.all() if after is None else conversation.messages.filter(pk__gt=after)
    return TemplateResponse(request, "playground/_turns.html", {"turns": turns})


@post_login_required
def turn_delete(request, pk: int):
    """Delete a turn; with from_here=1 also every later one (edit-and-resend). Answers 204."""
    turn = selectors.turn_get(owner=request.user, pk=pk)
    services.turns_delete(message=turn, and_after=request.POST.get("from_here") == "1")
    return HttpResponse(status=204)
