"""API keys: list, create (the whole key shown once), revoke."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from apikeys.selectors import api_key_list
from apikeys.services import api_key_create, api_key_revoke
from playground.views.common import error_text, inline, post_login_required, render_error
from tigercity.errors import ApiError


@login_required
def keys(request):
    return TemplateResponse(request, "playground/keys.html", {"keys": api_key_list(owner=request.user)})


@never_cache  # the answer holds the whole key: no cache may keep it
@post_login_required
def key_create(request):
    """The new key, whole, exactly once. Only its prefix and hash are stored; nothing can show it again."""
    name = request.POST.get("name", "")
    try:
        created = api_key_create(owner=request.user, name=name)
    except ApiError as exc:
        status, message = error_text(exc)
        context = {"name": name, "error": message, "keys": api_key_list(owner=request.user)}
        template = "playground/_key_form.html" if request.htmx else "playground/keys.html"
        return inline(TemplateResponse(request, template, context, status=status))
    context = {"created": created, "keys": api_key_list(owner=request.user)}
    template = "playground/_key_created.html" if request.htmx else "playground/keys.html"
    return TemplateResponse(request, template, context)


@post_login_required
def key_revoke(request, pk: int):
    try:
        api_key_revoke(owner=request.user, key_id=pk)
    except ApiError as exc:
        return render_error(request, exc)
    if request.htmx:
        return TemplateResponse(request, "playground/_key_rows.html", {"keys": api_key_list(owner=request.user)})
    return redirect("keys")
