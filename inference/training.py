"""POST /v1/train's service: one model's trainings run one after another, each durable before it answers."""
import asyncio
import threading
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from inference import adapter_files
from inference.engine.types import AdapterRef, TrainingGroup, TrainingParams, TrainingRequest
from inference.models import Revision, TunedModel
from inference.revisions import adapter_storage_check, next_revision_number, revision_commit, training_run_record
from inference.runtime import get_runtime
from inference.selectors import model_get
from tigercity import quotas
from tigercity.errors import Forbidden
from tigercity.failpoints import failpoint

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _local_lock(pk: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(pk, threading.Lock())


@asynccontextmanager
async def _model_lock(pk: int):
    """Held while one training of model `pk` runs, so that trainings of a model never interleave.

    Within this process a threading.Lock does it (the embedded case: one web process). When REDIS_URL is
    set, several web processes may train the same model at once, so a Redis lock is taken as well (after
    the local one, so that one process's trainings queue locally and only one of them polls Redis). Not a
    row lock (select_for_update): it lasts as long as its transaction, and a transaction held open for a
    training of seconds or minutes would pin a database connection and, on SQLite, block every writer.
    Not a PostgreSQL advisory lock: it needs a connection of its own for as long, and SQLite has none.
    Redis is already there whenever there is more than one process (the channel layer), and its lock
    expires if its holder dies (coordination.redis_lock renews it while the training runs).
    """
    local = _local_lock(pk)
    await asyncio.to_thread(local.acquire)
    try:
        if settings.REDIS_URL:
            from inference.workers.coordination import redis_lock

            async with redis_lock(f"train:{pk}"):
                yield
        else:
            yield
    finally:
        local.release()


def trainable_model(*, owner, ref: str) -> TunedModel:
    model = model_get(owner=owner, ref=ref)
    if model.read_only:
        raise Forbidden(f"{model.name} is a base model and read-only: create your own copy "
                        f"(POST /v1/models with parent_model {model.name!r}) and train that.",
                        param="model", code="read_only_model")
    return model


@dataclass(frozen=True)
class _Plan:
    request: TrainingRequest
    from_revision: int
    relpath: str
    params: dict


def _plan(model: TunedModel, data: dict) -> _Plan:
    """Read the current revision (under the model's lock) and the engine request that trains from it."""
    model.refresh_from_db()
    current = Revision.objects.get(model=model, number=model.revision)
    adapter_storage_check(owner=model.owner, adding=adapter_files.stored_bytes(current.path))
    number = next_revision_number(model)
    relpath = adapter_files.revision_relpath(model.key, number)
    adapter_files.remove_partial(relpath)  # a crash may have left it before its row was committed
    params = TrainingParams(
        learning_rate=data.get("learning_rate", model.learning_rate),
        learning_steps=data.get("learning_steps", model.learning_steps),
        beta=data.get("beta", model.beta),
        epsilon=data.get("epsilon", model.epsilon),
    )
    groups = tuple(
        TrainingGroup(
            messages=tuple({"role": m["role"], "content": m["content"]} for m in example["messages"]),
            responses=tuple(r["content"] for r in example["responses"]),
            rewards=tuple(float(r["reward"]) for r in example["responses"]),
        )
        for example in data["examples"]
    )
    request = TrainingRequest(
        request_id=f"train-{uuid.uuid4().hex}",
        base=model.base_name,
        source=AdapterRef(key=str(model.key), revision=model.revision, path=adapter_files.absolute(current.path)),
        dest_revision=number,
        dest_path=adapter_files.absolute(relpath),
        groups=groups,
        params=params,
    )
    return _Plan(request=request, from_revision=model.revision, relpath=relpath, params=asdict(params))


async def ensure_revision_dir(model: TunedModel, number: int) -> str:
    """The absolute directory of revision `number`, writing it first if it is an untouched revision 0."""
    revision = await Revision.objects.aget(model=model, number=number)
    if not revision.path:
        relpath = adapter_files.revision_relpath(model.key, number)
        adapter_files.remove_partial(relpath)
        await get_runtime().create_adapter(base=model.base_name, spec=model.lora,
                                           dest_path=adapter_files.absolute(relpath))
        revision.path = relpath
        await revision.asave(update_fields=["path"])
    return adapter_files.absolute(revision.path)


def _commit(model: TunedModel, plan: _Plan, result):
    failpoint("after_revision_write")  # the new directory exists; its row does not yet
    with transaction.atomic():
        to_revision = None
        if result.changed:
            revision_commit(model=model, number=plan.request.dest_revision, path=plan.relpath)
            to_revision = plan.request.dest_revision
        run = training_run_record(model=model, from_revision=plan.from_revision, to_revision=to_revision,
                                  params=plan.params, result=result)
    model.refresh_from_db()
    return model, run


async def _train_locked(model: TunedModel, data: dict, release):
    try:
        async with _model_lock(model.pk):
            return await _train(model, data)
    finally:
        release()


async def _train(model: TunedModel, data: dict):
    await ensure_revision_dir(model, (await TunedModel.objects.aget(pk=model.pk)).revision)
    plan = await sync_to_async(_plan)(model, data)
    result = await get_runtime().train(plan.request)
    return await sync_to_async(_commit)(model, plan, result)


async def model_train(*, owner, data: dict):
    """Train `data["model"]` from rewarded responses; returns (model, training run) once it is durable.

    The work runs as its own task and is shielded: a client that disconnects does not abandon a
    training half-way, it only stops waiting for the answer.
    """
    model = await sync_to_async(trainable_model)(owner=owner, ref=data["model"])
    # Held from now until the training ends, even if this caller stops waiting (a 429 beyond the cap).
    release = quotas.TRAININGS.acquire(owner.pk)
    try:
        task = asyncio.ensure_future(_train_locked(model, data, release))
    except BaseException:
        release()
        raise
    return await asyncio.shield(task)
