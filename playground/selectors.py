"""Reads of conversations: always filtered by owner, so another user's conversation is a 404."""
from django.http import Http404

from inference.catalog import base_model
from inference.engine.reasoning import parser_for
from inference.models import TrainingRun, TunedModel
from playground.models import Conversation, Message, PromptSet


def conversation_list(*, owner):
    return Conversation.objects.filter(owner=owner)


def conversation_get(*, owner, pk: int) -> Conversation:
    conversation = Conversation.objects.filter(owner=owner, pk=pk).first()
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def prompt_set_list(*, owner):
    return PromptSet.objects.filter(owner=owner)


def prompt_set_get(*, owner, pk: int) -> PromptSet:
    found = PromptSet.objects.filter(owner=owner, pk=pk).first()
    if found is None:
        raise Http404("No such prompt set.")
    return found


def turn_get(*, owner, pk: int) -> Message:
    """A turn (user or assistant) of one of the owner's conversations."""
    message = Message.objects.select_related("conversation").filter(conversation__owner=owner, pk=pk).first()
    if message is None:
        raise Http404("No such message.")
    return message


def message_get(*, owner, pk: int) -> Message:
    """An assistant message of one of the owner's conversations."""
    message = (Message.objects.select_related("conversation")
               .filter(conversation__owner=owner, pk=pk, role=Message.ASSISTANT).first())
    if message is None:
        raise Http404("No such message.")
    return message


def history_before(message: Message) -> list[dict]:
    """The conversation as the model saw it when it wrote `message`: system prompt, then earlier turns."""
    conversation = message.conversation
    turns = [{"role": "system", "content": conversation.system_prompt}] if conversation.system_prompt else []
    earlier = Message.objects.filter(conversation=conversation, pk__lt=message.pk).order_by("created_at", "id")
    turns += [{"role": m.role, "content": m.content} for m in earlier]
    return turns


def conversation_turns(conversation: Conversation) -> list[dict]:
    """Every turn of the conversation, oldest first, as messages (the system prompt is not among them)."""
    rows = conversation.messages.order_by("created_at", "id").values_list("role", "content")
    return [{"role": role, "content": content} for role, content in rows]


def last_trained(*, owner) -> dict[int, object]:
    """{model pk: when its weights last changed} for the owner's models that were ever trained."""
    rows = (TrainingRun.objects.filter(model__owner=owner, changed=True)
            .order_by("created_at").values_list("model_id", "created_at"))
    return dict(rows)


def trained_runs(*, model: TunedModel) -> list[TrainingRun]:
    """The trainings that produced a revision, oldest first."""
    return list(TrainingRun.objects.filter(model=model, changed=True).order_by("created_at", "id"))


def reasoning_parts(message: Message) -> tuple[str, str] | None:
    """(reasoning, answer) of an assistant turn whose model thinks (DeepSeek-R1); None for other models.

    The shared parser of inference.engine.reasoning decides; the saved text stays whole, as generated.
    """
    if message.role != Message.ASSISTANT or not message.model:
        return None
    base = base_model(message.model)
    base_name = base.name if base else (TunedModel.objects.filter(owner_id=message.conversation.owner_id,
                                                                  slug=message.model)
                                        .values_list("base_name", flat=True).first())
    parser = parser_for(base_name) if base_name else None
    if parser is None:
        return None
    reasoning, answer = parser.split(message.content)
    return (reasoning.strip(), answer.strip()) if reasoning is not None else None  # shown, not saved
