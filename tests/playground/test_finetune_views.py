"""Datasets page and the Fine-tune panel: upload errors by line, per-user 404s, start and cancel a job.

Jobs are created with the same service as POST /v1/fine_tuning/jobs; the runner is not woken here (a
test's transaction never commits), so a started job stays queued and a cancel takes the queued path.
"""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inference import services as model_services
from inference.models import DatasetFile, FineTuneJob

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def test_a_bad_upload_names_each_bad_line_and_stores_nothing(web):
    good = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ho"}]}'
    body = "\n".join([good, "not json", good, '{"messages": 3}']).encode()
    response = web.post("/datasets/", {"file": SimpleUploadedFile("bad.jsonl", body)}, headers=HTMX)
    assert response.status_code == 400 and response["X-Inline-Error"] == "1"
    html = response.content.decode()
    assert "bad.jsonl was not stored" in html
    assert "<li data-error-message>line 2" in html and "<li data-error-message>line 4" in html
    assert not DatasetFile.objects.exists()


def test_a_sample_is_added_listed_previewed_and_deleted(web, alice):
    response = web.post("/datasets/samples/pirate-supervised/", headers=HTMX)
    assert response.status_code == 200
    file = DatasetFile.objects.get(owner=alice)
    html = response.content.decode()
    assert "pirate-supervised.jsonl" in html and f">{file.lines}<" in html and f">{file.tokens}<" in html
    assert file.lines == 60 and file.tokens > 0
    assert "Ahoy, matey!" in web.get(f"/datasets/{file.id}/").content.decode()
    assert web.post(f"/datasets/{file.id}/delete/", headers=HTMX).status_code == 200
    assert not DatasetFile.objects.exists()
    without_script = web.post("/datasets/samples/terse-preference/")  # a plain form: back to the page
    assert without_script.status_code == 302 and DatasetFile.objects.get(owner=alice).kind == "preference"


def test_another_users_dataset_and_model_are_404(web, bob_web, alice):
    web.post("/datasets/samples/pirate-supervised/", headers=HTMX)
    file = DatasetFile.objects.get(owner=alice)
    model = model_services.model_create(owner=alice, name="mine", parent_model="Llama-3.1-8b")
    assert bob_web.get(f"/datasets/{file.id}/").status_code == 404
    assert bob_web.post(f"/datasets/{file.id}/delete/").status_code == 404
    assert bob_web.get(f"/models/{model.slug}/finetune/").status_code == 404
    assert bob_web.post(f"/models/{model.slug}/finetune/start/", {"training_file": file.id}).status_code == 404
    assert DatasetFile.objects.filter(pk=file.pk).exists()


def test_start_shows_the_job_and_cancel_cancels_it(web, bob_web, alice):
    web.post("/datasets/samples/pirate-supervised/", headers=HTMX)
    file = DatasetFile.objects.get(owner=alice)
    model = model_services.model_create(owner=alice, name="pirate", parent_model="Llama-3.1-8b")
    page = web.get(f"/models/{model.slug}/").content.decode()
    assert "id=\"finetune\"" in page and "Learning-rate multiplier" in page and "placeholder=\"auto (" in page
    assert 'placeholder="auto (200, DPO 50)"' in page  # the demo weights' auto multipliers

    bad = web.post(f"/models/{model.slug}/finetune/start/", {"method": "supervised", "training_file": file.id,
                                                            "n_epochs": "0"}, headers=HTMX)
    assert bad.status_code == 400 and "n_epochs" in bad.content.decode() and not FineTuneJob.objects.exists()

    response = web.post(f"/models/{model.slug}/finetune/start/", {
        "method": "supervised", "training_file": file.id, "n_epochs": "1", "batch_size": "8"}, headers=HTMX)
    assert response.status_code == 200
    job = FineTuneJob.objects.get(owner=alice)
    assert job.method["supervised"]["hyperparameters"]["n_epochs"] == 1
    assert job.method["supervised"]["hyperparameters"]["batch_size"] == 8
    html = response.content.decode()
    assert f'data-job="{job.id}"' in html and 'id="finetune-progress"' in html and "Cancel job" in html

    assert bob_web.post(f"/models/{model.slug}/finetune/{job.id}/cancel/").status_code == 404
    cancelled = web.post(f"/models/{model.slug}/finetune/{job.id}/cancel/", headers=HTMX)
    assert cancelled.status_code == 200
    job.refresh_from_db()
    assert job.status == "cancelled" and 'data-status="cancelled"' in cancelled.content.decode()


def test_the_panel_sends_validation_file_seed_early_stopping_and_wandb_and_never_shows_the_key(web, alice):
    web.post("/datasets/samples/pirate-supervised/", headers=HTMX)
    web.post("/datasets/samples/terse-preference/", headers=HTMX)
    train = DatasetFile.objects.get(owner=alice, kind="supervised")
    prefs = DatasetFile.objects.get(owner=alice, kind="preference")
    model = model_services.model_create(owner=alice, name="tracked", parent_model="Llama-3.1-8b")
    page = web.get(f"/models/{model.slug}/").content.decode()
    for label in ("Validation dataset", "Seed", "Early-stopping threshold", "Early-stopping patience", "W&amp;B project",
                  "W&amp;B entity", "W&amp;B API key"):
        assert f">{label}</label>" in page or f">{label} <" in page, label
    assert 'name="wandb_api_key" type="password"' in page

    response = web.post(f"/models/{model.slug}/finetune/start/", {
        "method": "supervised+dpo", "training_file": train.id, "preference_file": prefs.id, "validation_file": train.id,
        "seed": "42", "early_stopping_threshold": "0.01", "early_stopping_patience": "3",
        "wandb_project": "tiger", "wandb_entity": "team", "wandb_api_key": "secret-key-123"}, headers=HTMX)
    assert response.status_code == 200, response.content.decode()
    job = FineTuneJob.objects.get(owner=alice)
    assert (job.method["type"], job.validation_file, job.seed) == ("supervised+dpo", train.id, 42)
    assert job.early_stopping == {"threshold": 0.01, "patience": 3}
    assert job.wandb == {"project": "tiger", "entity": "team"} and job.wandb_api_key == "secret-key-123"
    html = response.content.decode()
    assert "seed 42" in html and "patience 3" in html and "W&amp;B project tiger" in html
    assert "secret-key-123" not in html and "secret-key-123" not in web.get(f"/models/{model.slug}/").content.decode()


@pytest.mark.parametrize("fields, field", [
    ({"seed": "x"}, "seed"),
    ({"early_stopping_patience": "0"}, "early_stopping_patience"),
    ({"early_stopping_threshold": "-1"}, "early_stopping_threshold"),
    ({"wandb_project": ""}, "wandb_project"),  # a key needs a project
    ({"validation_file": "file-nope"}, "validation_file"),
    ({"n_epochs": "0"}, "n_epochs"),
])
def test_a_bad_field_is_shown_at_that_field_and_the_key_is_not_echoed(web, alice, fields, field):
    web.post("/datasets/samples/pirate-supervised/", headers=HTMX)
    train = DatasetFile.objects.get(owner=alice)
    model = model_services.model_create(owner=alice, name="strict", parent_model="Llama-3.1-8b")
    response = web.post(f"/models/{model.slug}/finetune/start/", {
        "method": "supervised", "training_file": train.id, "wandb_project": "tiger", "wandb_api_key": "secret-key-123",
        **fields}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code in (400, 404) and response["X-Inline-Error"] == "1"
    assert f'id="ft-{field}-error" data-error-message>' in html
    assert f'id="ft-{field}"' in html and html.count('aria-invalid="true"') == 1
    assert "flash--error" not in html  # shown at its field, not at the panel's top
    assert "secret-key-123" not in html and not FineTuneJob.objects.exists()
    if field == "wandb_project":
        assert "Name a W&amp;B project" in html


def test_the_models_history_charts_show_fine_tuning_runs_with_their_own_measures(web, alice):
    from inference.models import TrainingRun

    model = model_services.model_create(owner=alice, name="charted", parent_model="Llama-3.1-8b")
    for to, kind, metrics in [(1, "reward", {"reward_mean": 0.5, "loss": 0.2}),
                              (2, "supervised", {"valid_loss": 3.25, "train_loss": 3.0}),
                              (3, "dpo", {"valid_loss": 0.61, "valid_preference_accuracy": 0.75, "valid_reward_margin": 0.4}),
                              (4, "supervised", {"valid_loss": 2.5}),
                              (5, "supervised+dpo", {"valid_loss": 0.52, "valid_preference_accuracy": 0.875,
                                                     "valid_reward_margin": 0.9})]:
        TrainingRun.objects.create(model=model, kind=kind, from_revision=to - 1, to_revision=to, changed=True,
                                   metrics=metrics)
    page = web.get(f"/models/{model.slug}/").content.decode()
    charts = page[page.index('id="charts"'):]
    for caption, points in [("Mean rating you gave", "revision 1 0.5"), ("Loss", "revision 1 0.2"),
                            ("Validation loss (supervised jobs)", "revision 2 3.25, revision 4 2.5"),
                            ("Held-out preference accuracy (DPO jobs)", "revision 3 0.75, revision 5 0.875"),
                            ("Held-out reward margin (DPO jobs)", "revision 3 0.4, revision 5 0.9")]:
        assert f"<figcaption>{caption} by revision</figcaption>" in charts, caption
        assert f'aria-label="{caption} by revision: {points}"' in charts, caption
    # A DPO run's validation loss is a DPO loss: never drawn on the supervised chart.
    assert "revision 3 0.61" not in charts and "revision 5 0.52" not in charts
    assert charts.count("data-chart-note") == 3
