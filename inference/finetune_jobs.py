"""Fine-tuning jobs (`/v1/fine_tuning/jobs`): create (validate, resolve "auto"), read, list, cancel.

A job trains one of the owner's models from dataset files: `supervised`, `dpo`, or `supervised+dpo`
(a TigerCity extra: supervised on `training_file`, then DPO on `preference_file`). Running is the
runner's business (inference/finetune_runner.py); this module only writes rows and wakes it.

"auto" values, resolved at creation and reported back in `method`:
- n_epochs: enough passes to see about 300 examples, 3 to 10;
- batch_size: a sixteenth of the examples (rounded up), 1 to 32;
- learning_rate_multiplier: the learning rate is the model's own `learning_rate` (the one /v1/train
  uses, 1e-5 by default) times the multiplier. LoRA fine-tuning on a dataset takes far larger steps
  than the reward updates that default is tuned for: "auto" is 20 (2e-4, the usual LoRA rate) on a
  real checkpoint and 200 on the built-in demo weights, a 2 M-parameter model that needs larger steps
  to change visibly within a minute; 50 for a DPO stage on the demo weights, where 200 collapses the
  answers to a word or two of nonsense (both measured with the sample datasets: bench/try_samples.py,
  bench/README.md);
- beta (dpo): 0.1, as in the DPO paper and TRL.
"""
import math
import secrets
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inference import datasets
from inference.catalog import base_model
from inference.engine.training.examples import holdout_split
from inference.models import FineTuneEvent, FineTuneJob
from inference.training import trainable_model
from tigercity import quotas
from tigercity.errors import InvalidRequest, NotFound

AUTO_LR_MULTIPLIER = 20.0
AUTO_LR_MULTIPLIER_DEMO = 200.0
AUTO_LR_MULTIPLIER_DEMO_DPO = 50.0
METHODS = ("supervised", "dpo", "supervised+dpo")
LIMITS = {"n_epochs": (1, 50), "batch_size": (1, 256), "learning_rate_multiplier": (1e-6, 10_000.0), "beta": (1e-4, 10.0)}


def auto_hyperparameters(method: str, n_train: int, *, demo: bool = False) -> dict:
    values = {
        "n_epochs": max(3, min(10, math.ceil(300 / max(n_train, 1)))),
        "batch_size": max(1, min(32, math.ceil(n_train / 16))),
        "learning_rate_multiplier": (AUTO_LR_MULTIPLIER if not demo else
                                     AUTO_LR_MULTIPLIER_DEMO_DPO if method == "dpo" else AUTO_LR_MULTIPLIER_DEMO),
    }
    if method == "dpo":
        values["beta"] = 0.1
    return values


def _resolve(method: str, given: dict | None, n_train: int, param: str, demo: bool) -> dict:
    given = given or {}
    if not isinstance(given, dict):
        raise InvalidRequest(f"{param} must be an object.", param=param, code="invalid_value")
    auto = auto_hyperparameters(method, n_train, demo=demo)
    unknown = set(given) - set(auto)
    if unknown:
        raise InvalidRequest(f"{param} has an unknown field {sorted(unknown)[0]!r} (known: {', '.join(auto)}).",
                             param=f"{param}.{sorted(unknown)[0]}", code="invalid_value")
    out = {}
    for key, default in auto.items():
        value = given.get(key, "auto")
        if value == "auto" or value is None:
            out[key] = default
            continue
        low, high = LIMITS[key]
        integer = key in ("n_epochs", "batch_size")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and int(value) != value) \
                or not (low <= value <= high):
            kind = "an integer" if integer else "a number"
            raise InvalidRequest(f"{param}.{key} must be \"auto\" or {kind} from {low} to {high}.",
                                 param=f"{param}.{key}", code="invalid_value")
        out[key] = int(value) if integer else float(value)
    return out


def _early_stopping(raw) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"threshold", "patience"}:
        raise InvalidRequest("early_stopping must be {\"threshold\": number >= 0, \"patience\": integer >= 1}.",
                             param="early_stopping", code="invalid_value")
    threshold, patience = raw.get("threshold", 0.0), raw.get("patience", 2)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 100:
        raise InvalidRequest("early_stopping.threshold must be a number from 0 to 100.", param="early_stopping.threshold",
                             code="invalid_value")
    if isinstance(patience, bool) or not isinstance(patience, int) or not 1 <= patience <= 100:
        raise InvalidRequest("early_stopping.patience must be an integer from 1 to 100.", param="early_stopping.patience",
                             code="invalid_value")
    return {"threshold": float(threshold), "patience": patience}


def _wandb(integrations) -> tuple[dict | None, str]:
    """OpenAI's `integrations: [{"type": "wandb", "wandb": {"project", "entity"?, "name"?, "tags"?}}]`, plus
    TigerCity's `api_key` in the same object: (settings kept on the job, the key kept apart)."""
    if integrations is None:
        return None, ""
    if not isinstance(integrations, list) or len(integrations) > 1:
        raise InvalidRequest("integrations must be a list with at most one {\"type\": \"wandb\", ...} entry.",
                             param="integrations", code="invalid_value")
    if not integrations:
        return None, ""
    entry = integrations[0]
    wandb = entry.get("wandb") if isinstance(entry, dict) and entry.get("type") == "wandb" else None
    if not isinstance(wandb, dict) or not isinstance(wandb.get("project"), str) or not wandb["project"].strip():
        raise InvalidRequest("integrations[0] must be {\"type\": \"wandb\", \"wandb\": {\"project\": ...}}.",
                             param="integrations[0]", code="invalid_value")
    kept = {}
    for key in ("project", "entity", "name"):
        value = wandb.get(key)
        if value is not None:
            if not isinstance(value, str) or len(value) > 128:
                raise InvalidRequest(f"integrations[0].wandb.{key} must be a string of at most 128 characters.",
                                     param=f"integrations[0].wandb.{key}", code="invalid_value")
            kept[key] = value
    key = wandb.get("api_key") or ""
    if not isinstance(key, str) or len(key) > 200:
        raise InvalidRequest("integrations[0].wandb.api_key must be a string.", param="integrations[0].wandb.api_key",
                             code="invalid_value")
    return kept, key


def _file(owner, file_id, param: str, kind: str, base: str):
    """A file of the owner's of the right kind, and its examples fitted to the job's base."""
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest(f"{param} must be a file id (upload with POST /v1/files).", param=param, code="invalid_value")
    file = datasets.file_get(owner=owner, file_id=file_id, param=param)
    if file.kind != kind:
        raise InvalidRequest(f"{param} {file_id} holds {file.kind} examples; this needs {kind} examples.",
                             param=param, code="invalid_file_kind")
    _, examples = datasets.file_examples(file)
    if base != datasets.default_base():  # counted with the default base's tokenizer at upload
        datasets.fit_to_context(base=base, examples=examples, lines=datasets.line_numbers(file.content))
    return examples


def job_create(*, owner, data: dict) -> FineTuneJob:
    """Validate a job request, store it queued, and wake the runner."""
    from inference.finetune_runner import kick

    model = trainable_model(owner=owner, ref=data.get("model") if isinstance(data.get("model"), str) else "")
    method = data.get("method") or {"type": "supervised", "supervised": {"hyperparameters": data.get("hyperparameters") or {}}}
    if not isinstance(method, dict) or method.get("type") not in METHODS:
        raise InvalidRequest(f"method.type must be one of {', '.join(METHODS)}.", param="method.type", code="invalid_value")
    kind = method["type"]
    seed = data.get("seed")
    if seed is None:
        seed = secrets.randbits(31)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidRequest("seed must be an integer from 0 to 2147483647.", param="seed", code="invalid_value")
    suffix = data.get("suffix") or ""
    if not isinstance(suffix, str) or len(suffix) > 64:
        raise InvalidRequest("suffix must be a string of at most 64 characters.", param="suffix", code="invalid_value")
    early = _early_stopping(data.get("early_stopping"))
    wandb, wandb_key = _wandb(data.get("integrations"))

    base = model.base_name
    demo = bool(getattr(base_model(base), "is_demo", False))
    share = settings.TIGER["VALIDATION_SHARE"]
    stages, counts = {}, {}
    if kind in ("supervised", "supervised+dpo"):
        train = _file(owner, data.get("training_file"), "training_file", "supervised", base)
        if data.get("validation_file"):
            valid = _file(owner, data["validation_file"], "validation_file", "supervised", base)
            counts["supervised"] = (len(train), len(valid))
        else:
            held = holdout_split(len(train), share, seed)
            counts["supervised"] = (len(held[0]), len(held[1]))
        stages["supervised"] = _resolve("supervised", _hyper(method, "supervised"), counts["supervised"][0],
                                        "method.supervised.hyperparameters", demo)
    if kind in ("dpo", "supervised+dpo"):
        param = "training_file" if kind == "dpo" else "preference_file"
        train = _file(owner, data.get(param), param, "preference", base)
        if kind == "dpo" and data.get("validation_file"):
            valid = _file(owner, data["validation_file"], "validation_file", "preference", base)
            counts["dpo"] = (len(train), len(valid))
        else:
            held = holdout_split(len(train), share, seed)
            counts["dpo"] = (len(held[0]), len(held[1]))
        stages["dpo"] = _resolve("dpo", _hyper(method, "dpo"), counts["dpo"][0], "method.dpo.hyperparameters", demo)

    resolved = {"type": kind, **{m: {"hyperparameters": h} for m, h in stages.items()}}
    with transaction.atomic():
        quotas.lock_owner(owner)
        active = FineTuneJob.objects.filter(owner=owner, status__in=FineTuneJob.ACTIVE).count()
        quotas.FINETUNE_JOBS.check(active)
        job = FineTuneJob.objects.create(
            id=f"ftjob-{uuid.uuid4().hex[:24]}", owner=owner, model=model, base_name=base, status="validating_files",
            training_file=data["training_file"], validation_file=data.get("validation_file") or "",
            preference_file=(data.get("preference_file") or "") if kind == "supervised+dpo" else "",
            method=resolved, hyperparameters=stages, early_stopping=early,
            validation_share=share if not data.get("validation_file") else 0.0, seed=seed, suffix=suffix,
            wandb=wandb, wandb_api_key=wandb_key,
        )
        event(job, "Validated the files: " + "; ".join(
            f"{m}: {n} training and {v} validation examples" + (" (held out of the training file)"
                                                                  if job.validation_share and v else "")
            for m, (n, v) in counts.items()))
        job.status = "queued"
        job.save(update_fields=["status"])
        event(job, "Job queued.")
    transaction.on_commit(kick)
    return job


def _hyper(method: dict, name: str):
    section = method.get(name) or {}
    if not isinstance(section, dict):
        raise InvalidRequest(f"method.{name} must be an object.", param=f"method.{name}", code="invalid_value")
    return section.get("hyperparameters")


def event(job: FineTuneJob, message: str, *, type_: str = "message", data: dict | None = None,
          level: str = "info") -> FineTuneEvent:
    """Append to a job's event log and push it to the owner's websocket group."""
    from inference.job_events import publish

    row = FineTuneEvent.objects.create(job=job, message=message, type=type_, data=data, level=level)
    publish(job, row)
    return row


def job_get(*, owner, job_id: str) -> FineTuneJob:
    found = FineTuneJob.objects.filter(owner=owner, id=job_id).select_related("model").first()
    if found is None:
        raise NotFound(f"No such fine-tuning job: {job_id!r}.", param="fine_tuning_job_id", code="job_not_found")
    return found


def page_limit(raw, default: int = 20) -> int:
    try:
        limit = int(raw) if raw not in (None, "") else default
    except (TypeError, ValueError):
        limit = -1
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100.", param="limit", code="invalid_value")
    return limit


def job_page(*, owner, after: str | None, limit_raw) -> tuple[list[FineTuneJob], bool]:
    """OpenAI's cursor pagination: newest first; `after` is the last id of the previous page."""
    limit = page_limit(limit_raw)
    jobs = job_list(owner=owner)
    if after:
        anchor = jobs.filter(pk=after).first()
        if anchor is None:
            raise InvalidRequest(f"after: no job {after!r}.", param="after", code="invalid_value")
        jobs = jobs.filter(Q(created_at__lt=anchor.created_at) | Q(created_at=anchor.created_at, pk__lt=anchor.pk))
    rows = list(jobs[: limit + 1])
    return rows[:limit], len(rows) > limit


def event_page(*, job: FineTuneJob, after: str | None, limit_raw) -> tuple[list[FineTuneEvent], bool]:
    """A job's events, newest first; `after` is an event id ("ftevent-<n>") from a previous page."""
    limit = page_limit(limit_raw)
    events = FineTuneEvent.objects.filter(job=job)
    if after:
        number = after.removeprefix("ftevent-")
        if not number.isdigit():
            raise InvalidRequest(f"after: no event {after!r}.", param="after", code="invalid_value")
        events = events.filter(pk__lt=int(number))
    rows = list(events[: limit + 1])
    return rows[:limit], len(rows) > limit


def job_list(*, owner, model=None):
    jobs = FineTuneJob.objects.filter(owner=owner).select_related("model")
    return jobs.filter(model=model) if model is not None else jobs


def job_cancel(*, owner, job_id: str) -> FineTuneJob:
    """Cancel a queued job at once, a running one at its engine's next slice (waits for it briefly)."""
    from inference.finetune_runner import cancel_running

    job = job_get(owner=owner, job_id=job_id)
    if job.status in FineTuneJob.FINAL:
        raise InvalidRequest(f"The job is already {job.status}.", param="fine_tuning_job_id", code="job_finished")
    with transaction.atomic():
        updated = FineTuneJob.objects.filter(pk=job.pk, status__in=("validating_files", "queued")).update(
            status="cancelled", finished_at=timezone.now())
        if updated:
            job.refresh_from_db()
            event(job, "Job cancelled before it started; the model was not changed.")
            return job
    cancel_running(job.id)
    job.refresh_from_db()
    return job
