from django.urls import re_path

from inference.api import file_views, finetune_views, openai_views

urlpatterns = [
    re_path(r"^chat/completions/?$", openai_views.chat_completions, name="openai-chat-completions"),
    re_path(r"^completions/?$", openai_views.completions, name="openai-completions"),
    re_path(r"^models/?$", openai_views.models, name="openai-models"),
    re_path(r"^files/?$", file_views.FileListView.as_view(), name="openai-files"),
    re_path(r"^files/(?P<file_id>[^/]+)/?$", file_views.FileDetailView.as_view(), name="openai-file"),
    re_path(r"^fine_tuning/jobs/?$", finetune_views.JobListView.as_view(), name="openai-jobs"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/?$", finetune_views.JobDetailView.as_view(), name="openai-job"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/events/?$", finetune_views.JobEventsView.as_view(), name="openai-job-events"),
    re_path(r"^fine_tuning/jobs/(?P<job_id>[^/]+)/cancel/?$", finetune_views.JobCancelView.as_view(), name="openai-job-cancel"),
    re_path(r"^models/(?P<model_id>[^/]+)/?$", openai_views.model_detail, name="openai-model"),
    re_path(r"^embeddings/?$", openai_views.embeddings, name="openai-embeddings"),
]
