"""Reads of models: the per-user authorisation boundary. Another user's model is never found."""
from inference.catalog import base_model, base_models, model_id
from inference.model_interface import ModelInterface
from inference.models import Revision, TrainingRun, TunedModel
from tigercity.errors import NotFound


def model_list(*, owner) -> list[ModelInterface]:
    """The base models, then the owner's own models."""
    return [*base_models(), *TunedModel.objects.filter(owner=owner)]


def own_model_find(*, owner, ref: str) -> TunedModel | None:
    """The owner's model whose id or name is `ref` (case-insensitive), or None."""
    ref = (ref or "").strip()
    if not ref:
        return None
    found = TunedModel.objects.filter(owner=owner, slug__iexact=model_id(ref)).first()
    return found or TunedModel.objects.filter(owner=owner, name__iexact=ref).first()


def model_get(*, owner, ref: str, param: str = "model") -> ModelInterface:
    """A base model or one of the owner's models, by name or id; 404 otherwise (also for other users' models)."""
    found = base_model(ref) if ref else None
    found = found or own_model_find(owner=owner, ref=ref)
    if found is None:
        raise NotFound(f"The model {ref!r} does not exist.", param=param, code="model_not_found")
    return found


def revision_list(*, model: TunedModel):
    return Revision.objects.filter(model=model)


def revision_get(*, model: TunedModel, number: int) -> Revision:
    revision = Revision.objects.filter(model=model, number=number).first()
    if revision is None:
        raise NotFound(f"The model {model.slug!r} has no revision {number} (kept revisions are listed by "
                       f"GET /v1/models/{model.slug}/revisions).", param="revision", code="revision_not_found")
    return revision


def training_runs_for(*, model: TunedModel):
    return TrainingRun.objects.filter(model=model)
