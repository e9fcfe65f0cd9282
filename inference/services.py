"""Writes of models. Keyword-only, typed; they raise tigercity.errors for the one exception handler."""
from django.db import IntegrityError, transaction

from inference import adapter_files
from inference.catalog import BaseModel, base_model, model_id
from inference.models import Revision, TunedModel
from inference.selectors import model_get, own_model_find
from tigercity.errors import Conflict, Forbidden, InvalidRequest
from tigercity.failpoints import failpoint

# Defaults of a model copied from a base model (API.md: POST /v1/models).
NEW_MODEL_DEFAULTS = {"beta": 0.8, "epsilon": 0.2, "learning_steps": 5, "temperature": 0.7, "top_p": 0.95}
EDITABLE = ("description", "temperature", "top_p", "learning_rate", "learning_steps", "beta", "epsilon")
LORA_FIELDS = ("rank", "alpha", "dropout", "target_modules")


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
    requested = {"rank": rank, "alpha": alpha, "dropout": dropout, "target_modules": target_modules}

    if isinstance(parent, BaseModel):
        lora = _lora_for_base(parent, requested)
        defaults = {**NEW_MODEL_DEFAULTS, "learning_rate": parent.learning_rate}
        base_name, source_path = parent.name, ""
    else:
        lora = _lora_for_copy(parent, requested)
        defaults = {f: getattr(parent, f) for f in EDITABLE if f != "description"}
        base_name = parent.base_name
        source_path = parent.revisions.get(number=parent.revision).path
    if learning_rate is not None:
        defaults["learning_rate"] = learning_rate

    try:
        with transaction.atomic():
            model = TunedModel.objects.create(
                owner=owner, name=name, slug=slug, description=description or "", base_name=base_name,
                parent_name=parent.name, revision=0, **lora, **defaults,
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


def _lora_for_base(parent: BaseModel, requested: dict) -> dict:
    rank = requested["rank"] if requested["rank"] is not None else parent.rank
    return {
        "rank": rank,
        "alpha": requested["alpha"] if requested["alpha"] is not None else 2.0 * rank,
        "dropout": requested["dropout"] if requested["dropout"] is not None else 0.1,
        "target_modules": requested["target_modules"] or "qkvo_ffn",
    }


def _lora_for_copy(parent: TunedModel, requested: dict) -> dict:
    """A copy keeps its parent's adapter shape; a setting that contradicts it is a 400 naming the field."""
    lora = {f: getattr(parent, f) for f in LORA_FIELDS}
    for field in ("rank", "alpha", "target_modules"):
        value = requested[field]
        if value is not None and value != lora[field]:
            raise InvalidRequest(
                f"{field} must be {lora[field]!r} (or left out): the parent model {parent.name!r} is an adapter "
                f"with {field} {lora[field]!r}, and a copy keeps its weights.",
                param=field, code="contradicts_parent",
            )
    if requested["dropout"] is not None:
        lora["dropout"] = requested["dropout"]  # dropout only acts during training: a copy may change it
    return lora


def model_update(*, model: BaseModel | TunedModel, **changes) -> TunedModel:
    """Change the description and the generation/training defaults of an own model."""
    if isinstance(model, BaseModel):
        raise Forbidden(f"{model.name} is a base model and read-only; create your own copy to change it.",
                        code="read_only_model")
    fields = [f for f in EDITABLE if f in changes]
    for field in fields:
        setattr(model, field, changes[field])
    if fields:
        model.save(update_fields=[*fields, "last_modified"])
    return model


def model_delete(*, model: BaseModel | TunedModel) -> str:
    """Delete an own model, its revisions, its training history and its weights on disk."""
    if isinstance(model, BaseModel):
        raise Forbidden(f"{model.name} is a base model and cannot be deleted.", code="read_only_model")
    slug, key = model.slug, model.key
    model.delete()
    transaction.on_commit(lambda: adapter_files.delete_model_files(key))
    return slug
