"""Datasets page and the Fine-tune panel: upload errors by line, per-user 404s, start and cancel a job.

Jobs are created with the same service as POST /v1/fine_tuning/jobs; the runner is not woken here (a
test's transaction never commits), so a started job stays queued and a cancel takes the queued path.
"""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from inference import services as model_services
from inference.models import DatasetFile, FineTuneJob

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def web(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_web(bob):
    client = Client()
    client.force_login(bob)
    return client


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
