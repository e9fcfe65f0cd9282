from django.urls import re_path

from inference.api import openai_views

urlpatterns = [
    re_path(r"^chat/completions/?$", openai_views.chat_completions, name="openai-chat-completions"),
    re_path(r"^models/?$", openai_views.models, name="openai-models"),
]
