"""Sign-up (can be switched off by TIGER_SIGNUP) and the signed-in landing page."""
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from playground import throttle
from playground.forms import SignUpForm


class LoginView(auth_views.LoginView):
    """Django's sign-in, with the brakes of playground/throttle.py: refused with 429 while locked out."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        refusal = throttle.signin_refusal(request, request.POST.get("username", ""))
        if refusal:
            # An unbound form: a bound one would check the password, which is what is refused.
            form = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
            response = self.render_to_response(self.get_context_data(form=form, refusal=refusal))
            response.status_code = 429
            response["Retry-After"] = str(settings.TIGER["SIGNIN_LOCKOUT_SECONDS"])
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        throttle.signin_succeeded(form.get_user().get_username())
        return super().form_valid(form)

    def form_invalid(self, form):
        throttle.signin_failed(self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)


def signup(request):
    if not settings.TIGER["SIGNUP"]:
        raise Http404("Sign-up is switched off on this server.")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST":
        refusal = throttle.signup_refusal(request)
        if refusal:
            form = SignUpForm(None)
            return TemplateResponse(request, "registration/signup.html", {"form": form, "refusal": refusal},
                                    status=429, headers={"Retry-After": str(settings.TIGER["SIGNUP_WINDOW_SECONDS"])})
        if form.is_valid():
            user = form.save()
            throttle.signup_done(request)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    return TemplateResponse(request, "registration/signup.html", {"form": form})


@login_required
def home(request):
    return redirect("chat")
