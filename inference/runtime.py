"""The only bridge from Django to the engine. Filled out with the engine (issue 3)."""
from django.conf import settings


def status() -> dict:
    return {"backend": settings.TIGER["ENGINE"], "ready": False}
