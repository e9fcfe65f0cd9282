"""/v1/ routes. Every path matches with and without a trailing slash (no redirects)."""
from django.urls import re_path

from inference.api import views

ID = r"(?P<model_id>[^/]+)"

urlpatterns = [
    re_path(r"^models/?$", views.ModelListView.as_view(), name="v1-models"),
    re_path(rf"^models/{ID}/?$", views.ModelDetailView.as_view(), name="v1-model"),
]
