"""Playground routes (the web UI). Every page needs a signed-in session except sign-in and sign-up."""
from django.contrib.auth import views as auth_views
from django.urls import path

from playground.views import accounts, catalog, chat, datasets, docs, finetune, keys, train

urlpatterns = [
    path("", accounts.home, name="home"),
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("keys/", keys.keys, name="keys"),
    path("keys/new/", keys.key_create, name="key-create"),
    path("keys/<int:pk>/revoke/", keys.key_revoke, name="key-revoke"),
    path("models/", catalog.models, name="models"),
    path("models/copy/", catalog.model_copy_view, name="model-copy"),
    path("models/<str:ref>/", catalog.model_detail, name="model"),
    path("models/<str:ref>/delete/", catalog.model_delete, name="model-delete"),
    path("models/<str:ref>/adapter/", catalog.model_adapter, name="model-adapter"),
    path("models/<str:ref>/revisions/<int:number>/restore/", catalog.revision_restore, name="revision-restore"),
    path("models/<str:ref>/finetune/", finetune.finetune_panel, name="finetune"),
    path("models/<str:ref>/finetune/start/", finetune.finetune_start, name="finetune-start"),
    path("models/<str:ref>/finetune/<str:job_id>/cancel/", finetune.finetune_cancel, name="finetune-cancel"),
    path("datasets/", datasets.dataset_list, name="datasets"),
    path("datasets/samples/<str:key>/", datasets.dataset_sample, name="dataset-sample"),
    path("datasets/<str:file_id>/", datasets.dataset_preview, name="dataset-preview"),
    path("datasets/<str:file_id>/delete/", datasets.dataset_delete, name="dataset-delete"),
    path("chat/", chat.chat, name="chat"),
    path("chat/send/", chat.chat_send, name="chat-send"),
    path("chat/count/", chat.chat_count, name="chat-count"),
    path("chat/<int:pk>/", chat.chat, name="conversation"),
    path("chat/<int:pk>/answer/", chat.chat_answer, name="chat-answer"),
    path("chat/<int:pk>/turns/", chat.chat_turns, name="chat-turns"),
    path("chat/<int:pk>/delete/", chat.conversation_delete, name="conversation-delete"),
    path("chat/answers/<int:pk>/rate/", chat.answer_rate, name="answer-rate"),
    path("chat/answers/<int:pk>/undo/", chat.answer_undo, name="answer-undo"),
    path("chat/turns/<int:pk>/delete/", chat.turn_delete, name="turn-delete"),
    path("train/", train.train, name="train"),
    path("train/<str:ref>/run/", train.train_run, name="train-run"),
    path("train/<str:ref>/undo/", train.train_undo, name="train-undo"),
    path("docs/", docs.docs, name="docs"),
    path("docs/api/", docs.api_reference, name="api-reference"),
]
