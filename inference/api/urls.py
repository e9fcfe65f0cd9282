"""/v1/ routes. Every path matches with and without a trailing slash (no redirects)."""
from django.urls import re_path

from inference.api import file_views, finetune_views, generate_views, revision_views, train_views, views

ID = r"(?P<model_id>[^/]+)"

urlpatterns = [
    re_path(r"^generate_response/?$", generate_views.generate_response, name="v1-generate"),
    re_path(r"^train/?$", train_views.train, name="v1-train"),
    re_path(r"^models/?$", views.ModelListView.as_view(), name="v1-models"),
    re_path(rf"^models/{ID}/?$", views.ModelDetailView.as_view(), name="v1-model"),
    re_path(rf"^models/{ID}/revisions/?$", revision_views.RevisionListView.as_view(), name="v1-revisions"),
    re_path(rf"^models/{ID}/revisions/(?P<number>[0-9]+)/restore/?$", revision_views.RevisionRestoreView.as_view(),
            name="v1-revision-restore"),
    re_path(rf"^models/{ID}/adapter/?$", revision_views.adapter_export, name="v1-adapter"),
    re_path(r"^files/?$", file_views.FileListView.as_view(), name="v1-files"),
    re_path(r"^files/(?P<file_id>[^/]+)/?$", file_views.FileDetailView.as_view(), name="v1-file"),
    re_path(r"^fine_tuning/jobs/?$", finetune_views.JobListView.as_view(), name="v1-jobs"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/?$", finetune_views.JobDetailView.as_view(), name="v1-job"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/events/?$", finetune_views.JobEventsView.as_view(), name="v1-job-events"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/cancel/?$", finetune_views.JobCancelView.as_view(), name="v1-job-cancel"),
]
