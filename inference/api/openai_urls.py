from django.urls import re_path

from drf_spectacular.utils import extend_schema, extend_schema_view

from inference.api import file_views, finetune_views, openai_views

OPERATIONS = {"FileListView": {"get": "files_list", "post": "files_create"},
              "FileDetailView": {"get": "files_read", "delete": "files_delete"},
              "JobListView": {"get": "fine_tuning_jobs_list", "post": "fine_tuning_jobs_create"},
              "JobDetailView": {"get": "fine_tuning_jobs_read"},
              "JobEventsView": {"get": "fine_tuning_jobs_events"},
              "JobCancelView": {"post": "fine_tuning_jobs_cancel"}}


def _openai(view):
    """The same view under /openai/v1, documented under its own operationIds (openai_<the /v1 one>)."""
    names = OPERATIONS[view.__name__]
    copy = type(f"OpenAI{view.__name__}", (view,), {})
    return extend_schema_view(**{m: extend_schema(operation_id=f"openai_{op}") for m, op in names.items()})(copy).as_view()


urlpatterns = [
    re_path(r"^chat/completions/?$", openai_views.chat_completions, name="openai-chat-completions"),
    re_path(r"^completions/?$", openai_views.completions, name="openai-completions"),
    re_path(r"^models/?$", openai_views.models, name="openai-models"),
    re_path(r"^files/?$", _openai(file_views.FileListView), name="openai-files"),
    re_path(r"^files/(?P<file_id>[^/]+)/?$", _openai(file_views.FileDetailView), name="openai-file"),
    re_path(r"^fine_tuning/jobs/?$", _openai(finetune_views.JobListView), name="openai-jobs"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/?$", _openai(finetune_views.JobDetailView), name="openai-job"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/events/?$", _openai(finetune_views.JobEventsView), name="openai-job-events"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/cancel/?$", _openai(finetune_views.JobCancelView), name="openai-job-cancel"),
    re_path(r"^models/(?P<model_id>[^/]+)/?$", openai_views.model_detail, name="openai-model"),
    re_path(r"^embeddings/?$", openai_views.embeddings, name="openai-embeddings"),
]
