from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from tigercity import views

urlpatterns = [
    re_path(r"^v1/openapi\.json/?$", SpectacularJSONAPIView.as_view(), name="openapi"),
    re_path(r"^v1/docs/?$", SpectacularSwaggerView.as_view(url_name="openapi"), name="api-docs"),
    re_path(r"^v1/health/?$", views.health, name="health"),
    path("v1/", include("inference.api.urls")),
    path("openai/v1/", include("inference.api.openai_urls")),
    path("", include("playground.urls")),
]

handler400 = "tigercity.views.bad_request"
handler404 = "tigercity.views.not_found"
handler500 = "tigercity.views.server_error"
