"""Sign-up (can be switched off by TIGER_SIGNUP) and the signed-in landing page."""
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from playground.forms import SignUpForm


def signup(request):
    if not settings.TIGER["SIGNUP"]:
        raise Http404("Sign-up is switched off on this server.")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return TemplateResponse(request, "registration/signup.html", {"form": form})


@login_required
def home(request):
    return redirect("chat")
