"""Runs queued fine-tuning jobs: one thread per base model takes them in submission order.

A job holds its model's training lock for as long as it runs (trainings of one model never
interleave: a /v1/train call of that model waits), hands a FineTuneRequest to the engine through the
runtime, and turns the engine's progress into event rows, websocket pushes and tracker points on
this thread (never on the engine's reader thread, which also carries streamed tokens).

Success commits the new revision exactly as /v1/train does (directory written and renamed by the
engine first, then the row) with a TrainingRun of kind supervised / dpo / supervised+dpo. Cancel or
failure writes nothing: the model stays at the revision it had.

Restart (SIGKILL included): `recover()` runs at start-up, before serving. A job found `running` or
`validating_files` was in a process that died: it is marked failed with a message saying so (its
revision directory, if the engine had finished writing it, has no row and is removed by
revisions.reconcile_adapter_dirs). Queued jobs stay queued and start again in order.
"""
import logging
import queue
import threading
import time
from concurrent.futures import Future

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from inference import adapter_files, datasets
from inference.engine.errors import EngineError, FineTuneCancelled
from inference.engine.training.examples import holdout_split
from inference.engine.types import AdapterRef, EarlyStopping, FineTuneRequest, FineTuneStage
from inference.finetune_jobs import event
from inference.job_events import Trackers
from inference.models import FineTuneJob, Revision, TrainingRun
from inference.revisions import next_revision_number, revision_commit
from inference.runtime import get_runtime
from inference.training import _local_lock
from tigercity import quotas
from tigercity.failpoints import failpoint

log = logging.getLogger(__name__)

_lock = threading.Lock()
_workers: dict[str, threading.Thread] = {}
_cancels: dict[str, threading.Event] = {}  # running job id -> set when a cancel was asked
_finished: dict[str, threading.Event] = {}  # running job id -> set when its row is final


def kick() -> None:
    """Make sure every base with queued jobs has a worker thread (safe to call any time)."""
    bases = _retry_locked(lambda: set(FineTuneJob.objects.filter(status="queued").values_list("base_name", flat=True)))
    with _lock:
        for base in bases:
            worker = _workers.get(base)
            if worker is None or not worker.is_alive():
                worker = threading.Thread(target=_work, args=(base,), name=f"finetune-{base}", daemon=True)
                _workers[base] = worker
                worker.start()


def next_job(base: str) -> FineTuneJob | None:
    """The oldest queued job of `base` whose owner is below their running-jobs limit."""
    limit = quotas.RUNNING_JOBS.limit
    for job in FineTuneJob.objects.filter(status="queued", base_name=base).order_by("created_at", "id")[:200]:
        if FineTuneJob.objects.filter(owner_id=job.owner_id, status="running").count() < limit:
            return job
    return None


def _work(base: str) -> None:
    try:
        while True:
            with _lock:  # deciding to exit and leaving the registry is one step (see kick)
                job = _retry_locked(next_job, base)
                if job is None:
                    _workers.pop(base, None)
                    return
                claimed = _retry_locked(lambda: FineTuneJob.objects.filter(pk=job.pk, status="queued").update(
                    status="running", started_at=timezone.now()))
                if claimed:
                    _cancels[job.id], _finished[job.id] = threading.Event(), threading.Event()
            if claimed:
                _retry_locked(job.refresh_from_db)
                try:
                    run(job)
                finally:
                    with _lock:
                        _cancels.pop(job.id, None)
                        _finished.pop(job.id).set()
                kick()  # a job of a user waiting on their limit may run on another base now
    except Exception:
        log.exception("the fine-tuning worker of %s stopped", base)
        with _lock:
            _workers.pop(base, None)
    finally:
        close_old_connections()
        connection.close()


def wait_running(job_id: str, timeout: float | None = None) -> bool:
    """Wait until a job that is running now has its final status; False if it was not running here."""
    with _lock:
        finished = _finished.get(job_id)
    return finished is not None and finished.wait(timeout)


def cancel_running(job_id: str, wait: float = 30.0) -> None:
    """Ask a running job to stop and wait (up to `wait` s) until its row says how it ended."""
    with _lock:
        cancelled, finished = _cancels.get(job_id), _finished.get(job_id)
    if cancelled is None:
        return
    cancelled.set()
    get_runtime().cancel_finetune(job_id)
    finished.wait(wait)


# -- one job ------------------------------------------------------------------------------------------

def run(job: FineTuneJob) -> None:
    """Run a claimed (status running) job to a final status. Never raises."""
    trackers = None
    try:
        with _local_lock(job.model_id):
            request, relpath = _plan(job)
            trackers = Trackers(job)
            for note in trackers.notes:
                _retry_locked(event, job, note)
            _execute(job, request, relpath, trackers)
    except Exception as e:
        if isinstance(e, (_Refused, EngineError)):
            reason = str(e)
        else:
            log.exception("fine-tuning job %s failed", job.id)
            reason = f"{type(e).__name__}: {e}"
        _retry_locked(_end, job, "failed", error={"code": getattr(e, "code", "job_failed"), "param": getattr(e, "param", None),
                                                  "message": f"The job failed: {reason} The model was not changed."})
    finally:
        if trackers is not None:
            trackers.close(job.metrics)


def _examples(file_id: str, owner_id: int, param: str):
    from inference.models import DatasetFile

    file = DatasetFile.objects.filter(owner_id=owner_id, id=file_id).first()
    if file is None:
        raise _Refused(f"The {param} {file_id} was deleted before the job started.", param)
    return datasets.file_examples(file)[1]


class _Refused(Exception):
    code = "invalid_file"

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


def _split(job: FineTuneJob, train_file: str, valid_file: str):
    examples = _examples(train_file, job.owner_id, "training file")
    if valid_file:
        return tuple(examples), tuple(_examples(valid_file, job.owner_id, "validation file"))
    train, valid = holdout_split(len(examples), job.validation_share, job.seed)
    return tuple(examples[i] for i in train), tuple(examples[i] for i in valid)


def _plan(job: FineTuneJob) -> tuple[FineTuneRequest, str]:
    model = job.model
    model.refresh_from_db()
    current = Revision.objects.get(model=model, number=model.revision)
    number = next_revision_number(model)
    relpath = adapter_files.revision_relpath(model.key, number)
    adapter_files.remove_partial(relpath)
    kind, hyper = job.method["type"], job.hyperparameters
    sft_train = sft_valid = pref_train = pref_valid = ()
    stages = []
    if "supervised" in hyper:
        sft_train, sft_valid = _split(job, job.training_file, job.validation_file)
        stages.append(_stage("supervised", hyper["supervised"], model.learning_rate))
    if "dpo" in hyper:
        pref_file = job.preference_file if kind == "supervised+dpo" else job.training_file
        pref_train, pref_valid = _split(job, pref_file, job.validation_file if kind == "dpo" else "")
        stages.append(_stage("dpo", hyper["dpo"], model.learning_rate))
    early = EarlyStopping(**job.early_stopping) if job.early_stopping else None
    job.from_revision = model.revision
    _retry_locked(job.save, update_fields=["from_revision"])
    request = FineTuneRequest(
        job_id=job.id, base=job.base_name,
        source=AdapterRef(key=str(model.key), revision=model.revision, path=adapter_files.absolute(current.path) if current.path else ""),
        dest_revision=number, dest_path=adapter_files.absolute(relpath), stages=tuple(stages),
        supervised_train=sft_train, supervised_validation=sft_valid,
        preference_train=pref_train, preference_validation=pref_valid,
        seed=job.seed, early_stopping=early, lora=model.lora,
    )
    return request, relpath


def _stage(method: str, h: dict, model_lr: float) -> FineTuneStage:
    return FineTuneStage(method=method, n_epochs=h["n_epochs"], batch_size=h["batch_size"],
                         learning_rate=model_lr * h["learning_rate_multiplier"], beta=h.get("beta", 0.1))


_DONE = object()


def _retry_locked(fn, *args, **kwargs):
    """Run a write, retrying while SQLite says a table is locked: an in-memory shared-cache database
    (the tests') reports a concurrent reader that way at once instead of waiting for it."""
    from django.db import OperationalError

    for attempt in range(100):
        try:
            return fn(*args, **kwargs)
        except OperationalError as e:
            if "locked" not in str(e) or attempt == 99:
                raise
            time.sleep(0.05)


def _execute(job: FineTuneJob, request: FineTuneRequest, relpath: str, trackers: Trackers) -> None:
    runtime = get_runtime()
    if not hasattr(runtime, "finetune"):
        raise RuntimeError(f"the {runtime.name!r} engine backend does not run fine-tuning jobs")
    events: queue.Queue = queue.Queue()
    if _cancels[job.id].is_set():
        raise FineTuneCancelled("cancelled before it reached the engine")
    _retry_locked(event, job, f"Training started from revision {job.from_revision}.")
    future: Future = runtime.finetune(request, lambda e: events.put(e) if getattr(e, "kind", "") == "finetune" else None)
    future.add_done_callback(lambda _: events.put(_DONE))
    if _cancels[job.id].is_set():  # asked between the check above and the engine having it
        runtime.cancel_finetune(job.id)
    while (item := events.get()) is not _DONE:
        _retry_locked(_progress, job, item, trackers)
    while not events.empty():  # events that raced the future's callback
        if (item := events.get()) is not _DONE:
            _retry_locked(_progress, job, item, trackers)
    try:
        result = future.result()
    except FineTuneCancelled:
        _retry_locked(_end, job, "cancelled", message="Job cancelled; the model was not changed.")
        return
    _retry_locked(_commit, job, request, relpath, result)


def _progress(job: FineTuneJob, item, trackers: Trackers) -> None:
    fields = []
    if item.type == "metrics":
        data = item.data
        job.step, job.total_steps, job.epoch = data["step"], data["total_steps"], data["epoch"]
        job.trained_tokens = data["trained_tokens"]
        job.metrics = {**job.metrics, **{k: v for k, v in data.items() if isinstance(v, float)}}
        fields = ["step", "total_steps", "epoch", "trained_tokens", "metrics"]
        trackers.log(data)
        if job.step >= 2:
            failpoint("during_finetune")  # the crash test kills the server here, mid-job
    elif "total_steps" in item.data:
        job.total_steps = item.data["total_steps"]
        fields = ["total_steps"]
    if fields:
        job.save(update_fields=fields)
    event(job, item.message, type_=item.type, data=item.data)


def _commit(job: FineTuneJob, request: FineTuneRequest, relpath: str, result) -> None:
    failpoint("after_finetune_write")  # the revision directory exists; its row does not yet
    kind = job.method["type"]
    metrics = {"kind": kind, "job": job.id, "revision": request.dest_revision, "changed": True, "reason": "",
               "steps": result.steps, "tokens": result.trained_tokens, "duration_ms": result.duration_ms,
               "best_step": result.best_step, "stopped_early": result.stopped_early, **result.metrics}
    with transaction.atomic():
        revision_commit(model=job.model, number=request.dest_revision, path=relpath)
        TrainingRun.objects.create(model=job.model, kind=kind, from_revision=job.from_revision,
                                   to_revision=request.dest_revision, changed=True,
                                   params={"method": job.method, "seed": job.seed, "early_stopping": job.early_stopping},
                                   metrics=metrics)
        job.result_revision = request.dest_revision
        job.trained_tokens = result.trained_tokens
        job.step = job.total_steps = result.total_steps
        job.metrics = {**job.metrics, **result.metrics}
        _end(job, "succeeded", message=f"Job succeeded: {job.model.slug} is now at revision {request.dest_revision}.")


def _end(job: FineTuneJob, status: str, *, message: str = "", error: dict | None = None) -> None:
    job.status, job.error, job.finished_at = status, error, timezone.now()
    job.save()
    event(job, message or error["message"], level="error" if error else "info")


def recover() -> list[str]:
    """At start-up (before serving): fail the jobs a dead process was running, restart the queue."""
    interrupted = list(FineTuneJob.objects.filter(status__in=("running", "validating_files")).select_related("model"))
    for job in interrupted:
        at = f" at step {job.step} of {job.total_steps}" if job.total_steps else ""
        revision = job.from_revision if job.from_revision is not None else job.model.revision
        _end(job, "failed", error={
            "code": "server_restarted", "param": None,
            "message": f"The server stopped while this job was {job.status.replace('_', ' ')}{at}; its progress was "
                       f"lost and the model stays at revision {revision}. Create the job again to retry."})
    kick()
    return [job.id for job in interrupted]

