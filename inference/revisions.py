"""Revisions of a model's weights: committing, pruning, restoring, exporting, start-up reconciliation.

Order of a new revision (docs/architecture.md: Invariants): its directory is written completely and renamed
into place first, then its row is committed; a crash in between leaves a directory no row names, which
`reconcile_adapter_dirs` removes at the next start. Earlier directories are never rewritten.
"""
import logging
import shutil
import time

from django.conf import settings
from django.db import transaction

from inference import adapter_files
from inference.engine.files import remove_orphans
from inference.models import Revision, TrainingRun, TunedModel
from tigercity import quotas

log = logging.getLogger(__name__)
RECONCILE_MIN_AGE = 600.0  # seconds; far longer than the gap between a revision's rename and its commit


def revision_commit(*, model: TunedModel, number: int, path: str, restored_from: int | None = None) -> Revision:
    """Record a revision whose directory is already on disk and make it the model's current one."""
    with transaction.atomic():
        revision = Revision.objects.create(model=model, number=number, path=path, restored_from=restored_from)
        model.revision = number
        model.save(update_fields=["revision", "last_modified"])
        _prune(model)
    return revision


def _prune(model: TunedModel) -> None:
    """Keep revision 0, the current one and the last TIGER_KEEP_REVISIONS; remove the others' files after commit."""
    keep = settings.TIGER["KEEP_REVISIONS"]
    old = list(Revision.objects.filter(model=model).exclude(number=0).order_by("-number")[keep:])
    if not old:
        return
    Revision.objects.filter(pk__in=[r.pk for r in old]).delete()
    paths = [adapter_files.absolute(r.path) for r in old if r.path]
    transaction.on_commit(lambda: [shutil.rmtree(p, ignore_errors=True) for p in paths])


def adapter_storage_check(*, owner, adding: int) -> None:
    """413 if `owner`'s stored adapter weights plus `adding` bytes would go over their cap
    (TIGER_MAX_ADAPTER_BYTES_PER_USER). Checked before each write with the size of what it copies or
    trains from, so a write can go over by at most one revision's size."""
    paths = Revision.objects.filter(model__owner=owner).exclude(path="").values_list("path", flat=True)
    quotas.ADAPTER_BYTES.check(sum(adapter_files.stored_bytes(p) for p in paths), adding)


def next_revision_number(model: TunedModel) -> int:
    """One more than the highest revision ever recorded (pruned numbers are never reused)."""
    latest = Revision.objects.filter(model=model).order_by("-number").values_list("number", flat=True).first()
    return max(latest or 0, model.revision) + 1


def revision_restore(*, model: TunedModel, number: int) -> Revision:
    """A new revision whose weights equal revision `number` (a copy: directories are never shared)."""
    source = Revision.objects.get(model=model, number=number)
    new_number = next_revision_number(model)
    path = ""
    if source.path:
        adapter_storage_check(owner=model.owner, adding=adapter_files.stored_bytes(source.path))
        path = adapter_files.revision_relpath(model.key, new_number)
        adapter_files.remove_partial(path)
        adapter_files.copy_revision(source.path, path)
    return revision_commit(model=model, number=new_number, path=path, restored_from=number)


def training_run_record(*, model: TunedModel, from_revision: int, to_revision: int | None, params: dict,
                        result) -> TrainingRun:
    return TrainingRun.objects.create(
        model=model, from_revision=from_revision, to_revision=to_revision, changed=result.changed,
        reason=result.reason, params=params, metrics=training_metrics(result, to_revision or from_revision),
    )


def training_metrics(result, revision: int) -> dict:
    """The `training` object of the /v1/train answer."""
    return {
        "revision": revision, "changed": result.changed, "reason": result.reason, "loss": result.loss,
        "kl": result.kl, "reward_mean": result.reward_mean, "reward_std": result.reward_std,
        "clip_fraction": result.clip_fraction, "tokens": result.tokens, "steps": result.steps,
        "duration_ms": result.duration_ms,
    }


def reconcile_adapter_dirs() -> list[str]:
    """At start-up: remove temp dirs and revision dirs that no committed row names. Returns what went.

    With Ray replicas and other web processes, another process may be between writing a revision and
    committing its row right now: then only entries untouched for RECONCILE_MIN_AGE seconds go."""
    min_age = RECONCILE_MIN_AGE if settings.TIGER["ENGINE"] == "ray" else 0.0
    root = adapter_files.adapters_root()
    if not root.is_dir():
        return []
    kept: dict[str, set[str]] = {}
    for key, path in Revision.objects.exclude(path="").values_list("model__key", "path"):
        kept.setdefault(str(key), set()).add(path.rsplit("/", 1)[-1])
    live = {str(k) for k in TunedModel.objects.values_list("key", flat=True)}
    removed = []
    for model_dir in root.iterdir():
        if not model_dir.is_dir():
            continue
        if model_dir.name not in live:
            if time.time() - model_dir.stat().st_mtime < min_age:
                continue
            if model_dir.name.startswith(".tmp-") or _is_uuid(model_dir.name):
                shutil.rmtree(model_dir, ignore_errors=True)
                removed.append(str(model_dir))
            continue
        removed += remove_orphans(model_dir, kept.get(model_dir.name, set()), min_age=min_age)
    for path in removed:
        log.warning("removed an orphaned adapter directory: %s", path)
    return removed


def _is_uuid(name: str) -> bool:
    import uuid

    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True
