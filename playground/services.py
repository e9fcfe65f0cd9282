"""Writes of the Playground: conversations, rated answers, copies of base models.

Models and training go through inference's services (model_create, model_train); nothing here
duplicates their rules.
"""
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import transaction

from inference import revisions
from inference import services as model_services
from inference.validation import TrainSerializer
from inference.catalog import BaseModel
from inference.models import Revision, TrainingRun, TunedModel
from inference.selectors import own_model_find, revision_get
from inference.training import model_train
from playground.models import Conversation, Message
from playground.selectors import history_before
from tigercity.errors import Conflict

TITLE_LENGTH = 60


def conversation_title(first_message: str) -> str:
    """The first message on one line, cut at a word boundary with an ellipsis when it is too long."""
    text = " ".join(first_message.split())
    if len(text) <= TITLE_LENGTH:
        return text or "New conversation"
    cut = text[:TITLE_LENGTH - 1]
    if " " in cut[TITLE_LENGTH // 2:]:  # a word boundary late enough to keep most of the text
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def conversation_start(*, owner, model: str, system_prompt: str, first_message: str,
                       settings: dict | None = None) -> Conversation:
    title = conversation_title(first_message)
    return Conversation.objects.create(owner=owner, title=title, model=model, system_prompt=system_prompt,
                                       settings=settings or {})


def message_add(*, conversation: Conversation, role: str, content: str, model: str = "",
                revision: int | None = None, finish_reason: str = "") -> Message:
    """Append a turn; the conversation moves to the top of its owner's list."""
    with transaction.atomic():
        message = Message.objects.create(conversation=conversation, role=role, content=content, model=model,
                                         revision=revision, finish_reason=finish_reason)
        conversation.save(update_fields=["updated_at"])
    return message


def conversation_configure(*, conversation: Conversation, model: str, system_prompt: str,
                           settings: dict | None = None) -> Conversation:
    """Remember the model, system prompt and sampling settings last used, so it reopens the same way."""
    conversation.model = model
    conversation.system_prompt = system_prompt
    if settings is not None:
        conversation.settings = settings
    conversation.save(update_fields=["model", "system_prompt", "settings", "updated_at"])
    return conversation


def turns_delete(*, message: Message, and_after: bool = False) -> int:
    """Delete one turn (or it and every later turn: edit-and-resend). Trained models keep what they learned."""
    turns = Message.objects.filter(conversation=message.conversation)
    doomed = turns.filter(pk__gte=message.pk) if and_after else turns.filter(pk=message.pk)
    count, _ = doomed.delete()
    return count


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


def revision_restore(*, model: TunedModel, number: int) -> Revision:
    """A new revision of `model` whose weights equal revision `number` (404 when it is not kept)."""
    revision_get(model=model, number=number)
    revision = revisions.revision_restore(model=model, number=number)
    model.refresh_from_db()
    return revision


def training_undo(*, model: TunedModel, revision: int) -> Revision | None:
    """Undo the training that produced `revision`: restore the revision it started from.

    Only while `revision` is still the model's current one (nothing newer happened); otherwise a 409 that
    says what happened since. None when that training changed nothing (there is nothing to restore).
    """
    run = TrainingRun.objects.filter(model=model, to_revision=revision, changed=True).first()
    if run is None:
        return None
    with transaction.atomic():  # the check and the restore see the same current revision
        current = TunedModel.objects.select_for_update().get(pk=model.pk)
        if current.revision != revision:
            raise Conflict(f"{model.name} has moved on to revision {current.revision} since, so this training can "
                           "no longer be undone. Restore an earlier revision from its page instead.",
                           code="revision_moved")
        restored = revision_restore(model=current, number=run.from_revision)
    model.refresh_from_db()
    return restored


def rating_undo(*, message: Message) -> Revision | None:
    """Take back a chat rating: the model it trained goes back to where it was, the answer can be rated again."""
    model = own_model_find(owner=message.conversation.owner, ref=message.trained_model)
    restored = None
    if model is not None and message.trained_revision is not None:
        restored = training_undo(model=model, revision=message.trained_revision)
    message.reward = None
    message.trained_model = ""
    message.trained_revision = None
    message.save(update_fields=["reward", "trained_model", "trained_revision"])
    return restored
