"""What the outside sees of a fine-tuning job: its API object, its events, the websocket push, and
the experiment trackers (TensorBoard event files, Weights & Biases).

Websocket push: every event of a job (each appended row of its event log) is sent to the Channels
group `user-<owner id>` as

    {"type": "finetune.event",
     "job": <the job object, as GET /v1/fine_tuning/jobs/{id} answers>,
     "event": <the event object, as GET /v1/fine_tuning/jobs/{id}/events lists>}

The Playground's socket (inference/consumers.py) joins its user's group and forwards the message
as is. Metrics events carry `event.data` = {"step", "total_steps", "epoch", "method",
"trained_tokens", and the step's values: "train_loss" (supervised), "dpo_loss", "reward_margin",
"preference_accuracy" (dpo), or validation values "valid_loss", "valid_preference_accuracy",
"valid_reward_margin"}. The job's `status` in the message tells when it ended.

Trackers: TensorBoard event files under DATA_DIR/tensorboard/<job id>/ (`tensorboard --logdir
var/tensorboard`), written with tensorboard's own writer (no torch in the web process); W&B when
the job names a project (wandb honours WANDB_MODE, e.g. offline). Both are the optional extra
`tracking`; without it the job says so in its events and runs anyway.
"""
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def _ts(dt) -> int | None:
    return int(dt.timestamp()) if dt else None


def job_info(job) -> dict:
    """OpenAI's fine_tuning.job object plus TigerCity's progress fields."""
    method = job.method or {}
    first = method.get("supervised") or method.get("dpo") or {}
    return {
        "id": job.id, "object": "fine_tuning.job", "model": job.model.slug, "created_at": _ts(job.created_at),
        "finished_at": _ts(job.finished_at), "fine_tuned_model": job.model.slug if job.status == "succeeded" else None,
        "organization_id": f"user-{job.owner_id}", "result_files": [], "status": job.status,
        "validation_file": job.validation_file or None, "training_file": job.training_file,
        "preference_file": job.preference_file or None,
        "hyperparameters": first.get("hyperparameters", {}), "method": method, "seed": job.seed,
        "suffix": job.suffix or None, "trained_tokens": job.trained_tokens, "error": job.error,
        "estimated_finish": None,
        "integrations": [{"type": "wandb", "wandb": job.wandb}] if job.wandb else [],
        "early_stopping": job.early_stopping, "validation_share": job.validation_share,
        "from_revision": job.from_revision, "result_revision": job.result_revision,
        "step": job.step, "total_steps": job.total_steps, "epoch": job.epoch, "metrics": job.metrics,
        "started_at": _ts(job.started_at),
    }


def event_info(row) -> dict:
    return {"id": f"ftevent-{row.pk}", "object": "fine_tuning.job.event", "created_at": _ts(row.created_at),
            "level": row.level, "message": row.message, "type": row.type, "data": row.data}


def publish(job, row) -> None:
    """Push one event to the owner's websocket group (nobody listening is fine; failures only log)."""
    try:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(user_group(job.owner_id), {
                "type": "finetune.event", "job": job_info(job), "event": event_info(row)})
    except Exception:
        log.exception("could not publish an event of job %s", job.id)


class Trackers:
    """TensorBoard (always, when installed) and W&B (when the job names a project) for one job."""

    def __init__(self, job):
        self.notes: list[str] = []  # said in the job's events
        self._tb = None
        self._wandb = None
        logdir = settings.DATA_DIR / "tensorboard" / job.id
        try:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._tb = EventFileWriter(str(logdir))
            self.notes.append(f"TensorBoard: tensorboard --logdir {logdir.parent}")
        except ImportError:
            self.notes.append("TensorBoard logging is off: install the 'tracking' extra.")
        if job.wandb:
            self._start_wandb(job)

    def _start_wandb(self, job) -> None:
        try:
            import wandb
        except ImportError:
            self.notes.append("Weights & Biases logging is off: install the 'tracking' extra.")
            return
        try:
            extra = {"settings": wandb.Settings(api_key=job.wandb_api_key)} if job.wandb_api_key else {}
            self._wandb = wandb.init(
                project=job.wandb["project"], entity=job.wandb.get("entity"), name=job.wandb.get("name") or job.id,
                id=job.id, dir=str(settings.DATA_DIR), config={"method": job.method, "seed": job.seed},
                reinit="create_new", **extra)
            self.notes.append(f"Weights & Biases: project {job.wandb['project']}, run {job.id}")
        except Exception as e:  # never echo the key: the message names the type only
            log.warning("W&B init failed for %s: %s", job.id, type(e).__name__)
            self.notes.append(f"Weights & Biases logging failed to start ({type(e).__name__}); the job goes on without it.")

    def log(self, data: dict) -> None:
        step = data.get("step", 0)
        values = {f"{data.get('method', 'train')}/{k}": v for k, v in data.items()
                  if isinstance(v, float) and k not in ("step", "total_steps", "epoch")}
        if self._tb is not None and values:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary

            self._tb.add_event(Event(wall_time=time.time(), step=step, summary=Summary(
                value=[Summary.Value(tag=k, simple_value=v) for k, v in values.items()])))
        if self._wandb is not None and values:
            self._wandb.log(values, step=step)

    def close(self, summary: dict | None = None) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            if summary:
                self._wandb.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
            self._wandb.finish()
