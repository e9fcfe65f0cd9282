"""Blind comparison on the Train page: prompt sets, picks between two revisions, win rates, and the picks sent
as a DPO fine-tuning job. Training and token counts are faked at the runtime boundary (no engine); the runner
is not woken (a test's transaction never commits), so a started job stays queued."""
import json

import pytest
from django.test import Client

from inference.models import DatasetFile, FineTuneJob, TunedModel
from playground import comparisons
from playground.models import BlindPick, PromptSet
from tests.fakes import FakeRuntime
from tests.playground.test_views import RevisionWritingRuntime, own_model

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def trained(alice, monkeypatch):
    """Alice's model "student" at revision 2 (revisions 0, 1 and 2 kept), with a prompt set."""
    runtime = RevisionWritingRuntime()
    monkeypatch.setattr("inference.training.get_runtime", lambda: runtime)
    monkeypatch.setattr("inference.datasets.get_runtime", lambda: FakeRuntime())
    own_model(alice)
    web = Client()
    web.force_login(alice)
    for _ in range(2):
        assert web.post("/train/student/run/", {"prompt": "Hi", "content_0": "Hello", "thumbs_0": "1"}).status_code == 200
    PromptSet.objects.create(owner=alice, name="Greetings", prompts=["Say hello.", "Say goodbye."])
    return TunedModel.objects.get(owner=alice, slug="student")


def pick(web, **fields):
    body = {"prompt": "Say hello.", "left_revision": "2", "right_revision": "1", "left_text": "Hello!",
            "right_text": "Hi.", "picked": "left", **fields}
    return web.post("/train/student/compare/pick/", body, headers=HTMX)


def test_the_train_page_offers_the_comparison_once_there_are_two_revisions(web, alice, monkeypatch):
    own_model(alice)
    page = web.get("/train/?model=student").content.decode()
    assert "Blind comparison" in page and "A comparison needs two revisions" in page


def test_a_prompt_set_is_saved_one_prompt_per_line_with_its_limits(web, trained):
    saved = web.post("/train/student/prompt-sets/", {"name": "  Colours ", "prompts": "Name a colour.\n\n Why is the sky blue? \n"},
                     headers=HTMX)
    assert saved.status_code == 200 and "Saved the prompt set “Colours” (2 prompts)" in saved.content.decode()
    assert PromptSet.objects.get(name="Colours").prompts == ["Name a colour.", "Why is the sky blue?"]
    cases = [({"name": "", "prompts": "x"}, "name"), ({"name": "Empty", "prompts": " \n "}, "prompts"),
             ({"name": "Many", "prompts": "\n".join(f"p{i}" for i in range(21))}, "prompts"),
             ({"name": "Long", "prompts": "x" * 2001}, "prompts"), ({"name": "n" * 81, "prompts": "x"}, "name"),
             ({"name": "Colours", "prompts": "x"}, "name")]
    for body, field in cases:
        refused = web.post("/train/student/prompt-sets/", body, headers=HTMX)
        assert refused.status_code in (400, 409) and refused["X-Inline-Error"] == "1", body
        assert f'id="set-{field}-error"' in refused.content.decode(), body
    assert PromptSet.objects.count() == 2


def test_a_pick_is_revealed_and_counted_per_revision(web, trained):
    revealed = pick(web)
    html = revealed.content.decode()
    assert revealed.status_code == 200
    assert "You picked answer A, written by revision 2 (the current one)." in html and "Answer B was revision 1." in html
    assert 'id="compare-results" class="stack" hx-swap-oob="true"' in html
    pick(web, left_revision="0", right_revision="2", picked="left")
    pick(web, left_revision="1", right_revision="2", picked="right", left_text="Same", right_text="Same")
    table = {s.revision: (s.wins, s.comparisons) for s in comparisons.standings(model=trained)}
    assert table == {0: (1, 1), 1: (0, 2), 2: (2, 3)}
    chart = comparisons.win_rate_chart(comparisons.standings(model=trained))
    assert [(p.revision, round(p.value)) for p in chart.points] == [(0, 100), (1, 0), (2, 67)]
    assert [label for _, label in chart.y_ticks] == ["0", "50", "100"]  # a percentage keeps its whole axis
    page = web.get("/train/?model=student").content.decode()
    assert "Win rate in blind picks (%) by revision" in page and "Train on 2 picks (DPO)" in page
    assert ('<option value="1">revision 1 (the one before)</option>'
            '<option value="0">revision 0 (the parent, Llama-3.1-8b)</option>') in page


@pytest.mark.parametrize("fields, status", [
    ({"picked": "up"}, 400), ({"right_revision": "2"}, 400), ({"right_revision": "9"}, 404),
    ({"left_revision": "x"}, 400), ({"prompt": ""}, 400), ({"prompt": "p" * 2001}, 400),
])
def test_a_pick_with_a_bad_field_is_refused_and_nothing_is_stored(web, trained, fields, status):
    assert pick(web, **fields).status_code == status
    assert not BlindPick.objects.exists()


def test_answer_texts_are_limited_like_messages(web, trained, settings):
    settings.TIGER = {**settings.TIGER, "MAX_MESSAGE_CHARS": 5}
    assert pick(web, left_text="x" * 6).status_code == 400
    assert not BlindPick.objects.exists()


def test_another_users_model_prompt_set_and_base_models_are_404(web, bob_web, trained, bob):
    others = PromptSet.objects.create(owner=bob, name="Bob's", prompts=["hi"])
    assert bob_web.post("/train/student/compare/pick/", {"picked": "left"}).status_code == 404
    assert bob_web.post("/train/student/compare/train/").status_code == 404
    assert bob_web.post("/train/student/prompt-sets/", {"name": "x", "prompts": "y"}).status_code == 404
    assert web.post(f"/train/student/prompt-sets/{others.pk}/delete/").status_code == 404
    assert pick(web, prompt_set=str(others.pk)).status_code == 404
    assert web.post("/train/llama-3.1-8b/compare/pick/", {"picked": "left"}).status_code == 404
    assert PromptSet.objects.filter(pk=others.pk).exists() and not BlindPick.objects.exists()


def test_the_picks_train_the_model_as_a_dpo_job_once(web, trained, alice):
    pick(web)
    pick(web, prompt="Say goodbye.", left_text="Bye.", right_text="Goodbye!", picked="right")
    pick(web, left_text="Same", right_text="Same")  # nothing to prefer: left out
    sent = web.post("/train/student/compare/train/", headers=HTMX)
    assert sent.status_code == 200
    job = FineTuneJob.objects.get(owner=alice)
    assert f"Started a DPO fine-tuning job on 2 picks</strong> ({job.id})" in sent.content.decode()
    assert "Train on 0 picks (DPO)" in sent.content.decode()  # the standings, refreshed
    assert job.method["type"] == "dpo" and job.model == trained and job.status == "queued"
    file = DatasetFile.objects.get(id=job.training_file)
    assert file.kind == "preference" and file.lines == 2 and file.owner == alice
    lines = [json.loads(line) for line in file.content.splitlines()]
    assert lines[0] == {"input": {"messages": [{"role": "user", "content": "Say hello."}]},
                        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
                        "non_preferred_output": [{"role": "assistant", "content": "Hi."}]}
    assert lines[1]["preferred_output"][0]["content"] == "Goodbye!"
    assert BlindPick.objects.filter(finetune_job=job).count() == 2
    again = web.post("/train/student/compare/train/", headers=HTMX)
    assert again.status_code == 400 and "No picks to train on yet" in again.content.decode()
    assert FineTuneJob.objects.count() == 1


def test_a_refused_job_leaves_no_dataset_file_behind(web, trained, settings):
    settings.TIGER = {**settings.TIGER, "MAX_ACTIVE_JOBS": 1}
    pick(web)
    assert web.post("/train/student/compare/train/", headers=HTMX).status_code == 200
    pick(web, prompt="Again")
    refused = web.post("/train/student/compare/train/", headers=HTMX)
    assert refused.status_code == 429
    assert DatasetFile.objects.count() == 1 and BlindPick.objects.filter(finetune_job__isnull=True).count() == 1


def test_deleting_a_prompt_set_keeps_its_picks(web, trained):
    greetings = PromptSet.objects.get(name="Greetings")
    pick(web, prompt_set=str(greetings.pk))
    assert web.post(f"/train/student/prompt-sets/{greetings.pk}/delete/", headers=HTMX).status_code == 200
    assert not PromptSet.objects.exists() and BlindPick.objects.get().prompt_set is None


@pytest.mark.parametrize("value", ["9" * 30, "9" * 5000, "x"])
def test_a_prompt_set_that_is_not_one_of_yours_is_404_however_long(web, trained, value):
    assert pick(web, prompt_set=value).status_code == 404  # 5000 digits were over int()'s limit: a 500
    assert not BlindPick.objects.exists()
