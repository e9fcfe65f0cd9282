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


class PromptSet(models.Model):
    """A user's saved prompts for blind comparisons. Always read through playground.selectors (by owner)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_sets")
    name = models.CharField(max_length=80)
    prompts = models.JSONField(default=list)  # 1 to comparisons.MAX_PROMPTS strings
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint("owner", "name", name="unique_prompt_set_name")]

    def __str__(self) -> str:
        return self.name


class BlindPick(models.Model):
    """One blind comparison: two revisions of one model answered a prompt side by side (in random order);
    the user picked the better answer before seeing which revision wrote it."""

    LEFT, RIGHT = "left", "right"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blind_picks")
    model = models.ForeignKey("inference.TunedModel", on_delete=models.CASCADE, related_name="blind_picks")
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="picks")
    prompt = models.TextField()
    left_revision = models.PositiveIntegerField()
    right_revision = models.PositiveIntegerField()
    left_text = models.TextField()
    right_text = models.TextField()
    picked = models.CharField(max_length=5, choices=[(LEFT, "left"), (RIGHT, "right")])
    # the DPO fine-tuning job these picks were sent to (once sent, a pick is not sent again)
    finetune_job = models.ForeignKey("inference.FineTuneJob", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="blind_picks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    @property
    def winner(self) -> tuple[int, str]:
        """(revision, text) of the answer picked."""
        return (self.left_revision, self.left_text) if self.picked == self.LEFT else (self.right_revision, self.right_text)

    @property
    def loser(self) -> tuple[int, str]:
        return (self.right_revision, self.right_text) if self.picked == self.LEFT else (self.left_revision, self.left_text)
