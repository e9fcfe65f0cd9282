"""Writes of the Playground: conversations, rated answers, copies of base models.

Models and training go through inference's services (model_create, model_train); nothing here
duplicates their rules.
"""
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import transaction

from inference import services as model_services
from inference.validation import TrainSerializer
from inference.catalog import BaseModel
from inference.models import TrainingRun, TunedModel
from inference.selectors import own_model_find
from inference.training import model_train
from playground.models import Conversation, Message
from playground.selectors import history_before

TITLE_LENGTH = 60


def conversation_start(*, owner, model: str, system_prompt: str, first_message: str) -> Conversation:
    title = " ".join(first_message.split())[:TITLE_LENGTH] or "New conversation"
    return Conversation.objects.create(owner=owner, title=title, model=model, system_prompt=system_prompt)


def message_add(*, conversation: Conversation, role: str, content: str, model: str = "",
                revision: int | None = None, finish_reason: str = "") -> Message:
    """Append a turn; the conversation moves to the top of its owner's list."""
    with transaction.atomic():
        message = Message.objects.create(conversation=conversation, role=role, content=content, model=model,
                                         revision=revision, finish_reason=finish_reason)
        conversation.save(update_fields=["updated_at"])
    return message


def conversation_configure(*, conversation: Conversation, model: str, system_prompt: str) -> Conversation:
    """Remember the model and system prompt last used, so the conversation reopens the same way."""
    conversation.model = model
    conversation.system_prompt = system_prompt
    conversation.save(update_fields=["model", "system_prompt", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def training_data(*, model: str, messages: list[dict], responses: list[dict], **overrides) -> dict:
    """A /v1/train body validated by the API's own serializer (raises its ValidationError)."""
    serializer = TrainSerializer(data={"model": model, "messages": messages, "responses": responses, **overrides})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def model_copy(*, owner, parent: BaseModel | TunedModel) -> TunedModel:
    """A new own model copied from `parent`, named "<parent> copy" (or "copy 2", ...), with the API's defaults."""
    stem = f"{parent.name[:52]} copy"
    name, number = stem, 1
    while own_model_find(owner=owner, ref=name):
        number += 1
        name = f"{stem} {number}"
    return model_services.model_create(
        owner=owner, name=name, parent_model=parent.name,
        description=f"A copy of {parent.name}, made in the Playground.",
    )


@dataclass(frozen=True)
class Rated:
    message: Message
    model: TunedModel
    run: TrainingRun
    copied: bool  # the model was copied from a base model for this rating


async def answer_rate(*, owner, message: Message, reward: float, copy_from: BaseModel | None = None) -> Rated:
    """Train the model that wrote `message` on it at once (one response, reward +1 or -1).

    With `copy_from` (the base model that wrote it), an own copy is created first and trained instead.
    """
    ref = message.model
    if copy_from is not None:
        copy = await sync_to_async(model_copy)(owner=owner, parent=copy_from)
        ref = copy.slug
    data = await sync_to_async(training_data)(
        model=ref, messages=await sync_to_async(history_before)(message),
        responses=[{"content": message.content, "reward": float(reward)}],
    )
    model, run = await model_train(owner=owner, data=data)
    message.reward = reward
    message.trained_model = model.slug
    message.trained_revision = model.revision
    await message.asave(update_fields=["reward", "trained_model", "trained_revision"])
    if copy_from is not None:
        conversation = message.conversation
        conversation.model = model.slug
        await conversation.asave(update_fields=["model", "updated_at"])
    return Rated(message=message, model=model, run=run, copied=copy_from is not None)


async def rating_train(*, owner, model: str, messages: list[dict], responses: list[dict], **overrides):
    """Train on several rated candidates of one prompt (the Train page); returns (model, run)."""
    data = await sync_to_async(training_data)(model=model, messages=messages, responses=responses, **overrides)
    return await model_train(owner=owner, data=data)
