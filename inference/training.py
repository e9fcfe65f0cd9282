"""POST /v1/train's service: one model's trainings run one after another, each durable before it answers."""
import asyncio
import threading
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass

from asgiref.sync import sync_to_async
from django.db import connection, transaction

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
ADVISORY_LOCK_CLASS = 0x7467  # first key of TigerCity's PostgreSQL advisory locks ("tg"); the model's pk is the second


def _local_lock(pk: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(pk, threading.Lock())


@asynccontextmanager
async def _model_lock(pk: int):
    """Held while one training of model `pk` runs, so that trainings of a model never interleave and its
    revisions stay consecutive, however many web processes (and Ray replicas) there are.

    Within this process a threading.Lock does it (the embedded case: one web process). On PostgreSQL,
    several web processes may train the same model at once, so a session-level advisory lock is taken as
    well, after the local one (one process's trainings queue locally; only one holds a connection), on a
    connection of its own that lives as long as the training: if this process dies, PostgreSQL ends the
    session and frees the lock. Not a row lock (select_for_update): that lasts as long as a transaction,
    and one held open for a training would pin a pooled connection and on SQLite block every writer. Not
    Serve routing (the same replica for a model): Serve prefers a replica, it does not guarantee one.
    Not a named Ray actor: the database is where the revision rows are, and it is already shared.
    SQLite means one machine and, in practice, one web process: the local lock is enough there.
    """
    local = _local_lock(pk)
    await asyncio.to_thread(local.acquire)
    try:
        if connection.vendor == "postgresql":
            session = await asyncio.to_thread(_advisory_lock, pk)
            try:
                yield
            finally:
                await asyncio.to_thread(session.close)  # ends the session: the lock goes with it
        else:
            yield
    finally:
        local.release()


def _advisory_lock(pk: int):
    """A new connection to the default database, holding the advisory lock of model `pk` (waits for it)."""
    import psycopg

    params = connection.get_connection_params()
    session = psycopg.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")},
                              autocommit=True)
    try:
        session.execute("SELECT pg_advisory_lock(%s, %s)", (ADVISORY_LOCK_CLASS, pk))
    except BaseException:
        session.close()
        raise
    return session


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
