from django.conf import settings
from django.db import models


class Conversation(models.Model):
    """A chat in the Playground. Always read through playground.selectors (filtered by owner)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=120)
    model = models.CharField(max_length=128)  # the id of the model last chosen for it
    system_prompt = models.TextField(blank=True, default="")
    settings = models.JSONField(default=dict, blank=True)  # temperature, top_p, max_tokens last used here
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    """One turn of a conversation. Assistant turns remember which model and revision answered."""

    USER, ASSISTANT = "user", "assistant"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=[(USER, "user"), (ASSISTANT, "assistant")])
    content = models.TextField(blank=True, default="")
    model = models.CharField(max_length=128, blank=True, default="")  # assistant: the model id that answered
    revision = models.PositiveIntegerField(null=True, blank=True)  # assistant: the revision that answered
    finish_reason = models.CharField(max_length=16, blank=True, default="")
    reward = models.FloatField(null=True, blank=True)  # the rating given to an assistant turn (+1 / -1)
    trained_model = models.CharField(max_length=128, blank=True, default="")  # the model id the rating trained
    trained_revision = models.PositiveIntegerField(null=True, blank=True)  # the revision that training produced
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
