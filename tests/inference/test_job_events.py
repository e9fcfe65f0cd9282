"""A job's outside: websocket group messages, TensorBoard event files, W&B offline runs; no secret leaks."""
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from inference.finetune_jobs import event
from inference.job_events import Trackers, job_info, user_group
from inference.models import FineTuneJob, TunedModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(alice):
    model = TunedModel.objects.create(owner=alice, name="m", slug="m", base_name="Llama-3.1-8b", parent_name="Llama-3.1-8b",
                                      rank=4, alpha=8, dropout=0.0, target_modules="qv", temperature=0.7, top_p=0.95,
                                      learning_rate=1e-5, learning_steps=5, beta=0.1, epsilon=0.2)
    return FineTuneJob.objects.create(id="ftjob-test", owner=alice, model=model, base_name="Llama-3.1-8b", status="running",
                                      training_file="file-x", seed=1, method={"type": "supervised"},
                                      wandb={"project": "tc-test"}, wandb_api_key="wandb-secret-42")


def test_each_event_reaches_the_owners_websocket_group(job):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(job.owner_id), channel)
    event(job, "step 1/4", type_="metrics", data={"step": 1, "total_steps": 4, "train_loss": 1.5})
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "finetune.event" and message["job"]["id"] == "ftjob-test"
    assert message["event"]["data"]["train_loss"] == 1.5 and message["event"]["object"] == "fine_tuning.job.event"
    assert "wandb-secret-42" not in json.dumps(message) and "wandb-secret-42" not in json.dumps(job_info(job))


def test_trackers_write_tensorboard_events_and_an_offline_wandb_run(job, settings, monkeypatch):
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    trackers = Trackers(job)
    trackers.log({"step": 1, "total_steps": 2, "method": "supervised", "train_loss": 2.0})
    trackers.log({"step": 2, "total_steps": 2, "method": "supervised", "train_loss": 1.0, "valid_loss": 1.5})
    trackers.close({"valid_loss": 1.5})
    files = list((settings.DATA_DIR / "tensorboard" / "ftjob-test").glob("events.out.tfevents.*"))
    assert len(files) == 1
    points = [(e.step, v.tag, v.simple_value) for e in LegacyEventFileLoader(str(files[0])).Load() for v in e.summary.value]
    assert (2, "supervised/valid_loss", 1.5) in points and (1, "supervised/train_loss", 2.0) in points
    runs = list((settings.DATA_DIR / "wandb").glob("offline-run-*"))
    assert runs and any("Weights & Biases" in note for note in trackers.notes)
    logged = "".join(p.read_text(errors="replace") for p in runs[0].rglob("*") if p.is_file() and p.suffix in (".json", ".yaml", ".log"))
    assert "wandb-secret-42" not in logged
