"""Writes of models. Keyword-only, typed; they raise tigercity.errors for the one exception handler."""
from django.db import IntegrityError, transaction

from inference import adapter_files
from inference.catalog import base_model, model_id
from inference.model_interface import ModelInterface
from inference.models import DEFAULT_FIELDS, Revision, TunedModel
from inference.revisions import adapter_storage_check
from inference.selectors import model_get, own_model_find
from tigercity import quotas
from tigercity.errors import Conflict, Forbidden
from tigercity.failpoints import failpoint

EDITABLE = ("description", *DEFAULT_FIELDS)


def model_create(
    *,
    owner,
    name: str,
    parent_model: str,
    description: str = "",
    rank: int | None = None,
    alpha: float | None = None,
    dropout: float | None = None,
    learning_rate: float | None = None,
    target_modules: str | None = None,
) -> TunedModel:
    """A new model at revision 0 that behaves exactly like its parent (a copy of its weights for a user model)."""
    name = name.strip()
    slug = model_id(name)
    if base_model(name) or base_model(slug):
        raise Conflict(f"The name {name!r} is taken by a base model.", param="name", code="duplicate_model")
    if own_model_find(owner=owner, ref=name) or own_model_find(owner=owner, ref=slug):
        raise Conflict(f"You already have a model called {name!r} (id {slug!r}).", param="name",
                       code="duplicate_model")
    parent = model_get(owner=owner, ref=parent_model, param="parent_model")
    lora = parent.child_lora(rank=rank, alpha=alpha, dropout=dropout, target_modules=target_modules)
    defaults = parent.child_defaults()
    if learning_rate is not None:
        defaults["learning_rate"] = learning_rate
    source_path = parent.revisions.get(number=parent.revision).path if parent.lora is not None else ""

    try:
        with transaction.atomic():
            quotas.lock_owner(owner)
            quotas.MODELS.check(TunedModel.objects.filter(owner=owner).count())
            adapter_storage_check(owner=owner, adding=adapter_files.stored_bytes(source_path))
            model = TunedModel.objects.create(
                owner=owner, name=name, slug=slug, description=description or "", base_name=parent.base_name,
                parent_name=parent.name, revision=0, rank=lora.rank, alpha=lora.alpha, dropout=lora.dropout,
                target_modules=lora.target_modules, **defaults,
            )
            path = ""
            if source_path:
                path = adapter_files.revision_relpath(model.key, 0)
                adapter_files.copy_revision(source_path, path)
                failpoint("after_model_copy")  # the copy's files exist; its rows are not committed
            Revision.objects.create(model=model, number=0, path=path)
    except IntegrityError:
        # A concurrent create with the same name won the race.
        raise Conflict(f"You already have a model called {name!r}.", param="name", code="duplicate_model") from None
    return model


def model_update(*, model: ModelInterface, **changes) -> TunedModel:
    """Change the description and the generation/training defaults of an own model."""
    if model.read_only:
        raise Forbidden(f"{model.name} is a base model and read-only; create your own copy to change it.",
                        code="read_only_model")
    fields = [f for f in EDITABLE if f in changes]
    for field in fields:
        setattr(model, field, changes[field])
    if fields:
        model.save(update_fields=[*fields, "last_modified"])
    return model


def model_delete(*, model: ModelInterface) -> str:
    """Delete an own model, its revisions, its training history and its weights on disk."""
    if model.read_only:
        raise Forbidden(f"{model.name} is a base model and cannot be deleted.", code="read_only_model")
    slug, key = model.slug, model.key
    model.delete()
    transaction.on_commit(lambda: adapter_files.delete_model_files(key))
    return slug
