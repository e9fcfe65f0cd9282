"""Playground views: sign-in rules, per-user isolation, the key shown once, forms with the API's messages.

Training is faked at the runtime boundary (inference.training.get_runtime), so these tests need no engine.
"""
import hashlib
import re

import pytest
from django.test import Client

from apikeys.models import ApiKey
from inference.models import TunedModel
from playground.models import Conversation, Message
from inference.engine.types import TrainingResult
from tests.fakes import FakeRuntime

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


class RevisionWritingRuntime(FakeRuntime):
    """Also writes the new revision's directory, as the engine does, so revisions can be restored."""

    async def train(self, request):
        await self.create_adapter(base=request.base, spec=type("Spec", (), {"rank": 1}), dest_path=request.dest_path)
        return await super().train(request)


@pytest.fixture
def runtime(monkeypatch):
    fake = RevisionWritingRuntime()
    monkeypatch.setattr("inference.training.get_runtime", lambda: fake)
    return fake


def own_model(owner, name="student"):
    from inference.services import model_create

    return model_create(owner=owner, name=name, parent_model="Llama-3.1-8b")


def conversation_with_answer(owner, model="student", system_prompt=""):
    conversation = Conversation.objects.create(owner=owner, title="Hello", model=model, system_prompt=system_prompt)
    Message.objects.create(conversation=conversation, role="user", content="Say hello.")
    answer = Message.objects.create(conversation=conversation, role="assistant", content="Hello!", model=model,
                                    revision=0, finish_reason="stop")
    return conversation, answer


# ---- Sign-in ----

@pytest.mark.parametrize("path", ["/", "/chat/", "/keys/", "/models/", "/train/", "/docs/", "/models/llama-3.1-8b/"])
def test_every_page_but_sign_in_and_sign_up_needs_a_session(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_sign_in_and_sign_up_pages_are_public_and_styled(client):
    for path in ("/login/", "/signup/"):
        response = client.get(path)
        assert response.status_code == 200
        assert b"playground/app.css" in response.content


def test_sign_up_creates_the_account_and_signs_in(client):
    response = client.post("/signup/", {"username": "carol", "password1": "a-long-pass-phrase-42",
                                        "password2": "a-long-pass-phrase-42"})
    assert response.status_code == 302
    assert client.get("/chat/").status_code == 200


def test_sign_up_can_be_switched_off(client, settings):
    settings.TIGER = {**settings.TIGER, "SIGNUP": False}
    assert client.get("/signup/").status_code == 404
    page = client.get("/login/").content.decode()
    assert 'href="/signup/"' not in page and "switched off" in page


# ---- API keys: the whole key exactly once ----

def test_a_new_key_is_shown_once_and_never_again(web, alice):
    response = web.post("/keys/new/", {"name": "laptop"}, headers=HTMX)
    assert response.status_code == 200
    secret = re.search(r'value="(tc-[A-Za-z0-9_-]+)"', response.content.decode()).group(1)
    assert "will not be shown again" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    stored = ApiKey.objects.get(owner=alice)
    assert stored.hashed_key == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(vars(stored))
    listing = web.get("/keys/").content.decode()
    assert "laptop" in listing and stored.prefix in listing
    assert secret not in listing


def test_a_key_works_until_it_is_revoked(web, alice):
    page = web.post("/keys/new/", {"name": "ci"}, headers=HTMX).content.decode()
    secret = re.search(r'value="(tc-[A-Za-z0-9_-]+)"', page).group(1)
    assert Client().get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    key = ApiKey.objects.get(owner=alice)
    rows = web.post(f"/keys/{key.pk}/revoke/", headers=HTMX)
    assert rows.status_code == 200 and "revoked" in rows.content.decode()
    assert Client().get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_a_key_name_error_is_shown_in_the_form(web):
    response = web.post("/keys/new/", {"name": "   "}, headers=HTMX)
    assert response.status_code == 400
    assert response["X-Inline-Error"] == "1"
    assert "name must be 1 to 64 characters long." in response.content.decode()


def test_another_users_key_cannot_be_revoked(web, bob, make_key):
    make_key(bob)
    key = ApiKey.objects.get(owner=bob)
    response = web.post(f"/keys/{key.pk}/revoke/")
    assert response.status_code == 404
    assert b"No such API key." in response.content
    key.refresh_from_db()
    assert key.revoked_at is None


# ---- Models ----

def test_the_models_page_lists_base_models_with_the_demo_note_and_the_create_defaults(web):
    page = web.get("/models/").content.decode()
    assert "Llama-3.1-8b" in page and "DeepSeek-R1-8b" in page
    assert "demo weights" in page and "TIGER_BASE_MODELS" in page
    for field, value in (("rank", "16"), ("alpha", "32"), ("dropout", "0.1"), ("learning_rate", "0.00001")):
        assert re.search(rf'name="{field}" type="number"[^>]* value="{re.escape(value)}"', page), field
    assert '<option value="qkvo_ffn" selected>' in page


def test_creating_a_model_uses_the_api_service(web, alice):
    response = web.post("/models/", {"name": "My Model", "parent_model": "Llama-3.1-8b", "rank": "8", "alpha": "",
                                     "dropout": "0.1", "learning_rate": "0.0001", "target_modules": "qv",
                                     "description": "mine"}, headers=HTMX)
    assert response.status_code == 200
    model = TunedModel.objects.get(owner=alice)
    assert (model.slug, model.rank, model.alpha, model.target_modules) == ("my-model", 8, 16.0, "qv")
    assert model.learning_rate == 0.0001
    assert "Created My Model" in response.content.decode()


@pytest.mark.parametrize("field, value, message", [
    ("rank", "0", "Ensure this value is greater than or equal to 1."),
    ("rank", "abc", "A valid integer is required."),
    ("dropout", "0.95", "Ensure this value is less than or equal to 0.9."),
    ("learning_rate", "0", "learning_rate must be greater than 0 and at most 1."),
    ("name", "-bad", "name may use letters, digits"),
])
def test_create_errors_are_the_apis_messages_next_to_the_field(web, field, value, message):
    body = {"name": "ok", "parent_model": "Llama-3.1-8b", field: value}
    response = web.post("/models/", body, headers=HTMX)
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(rf'id="create-{field}-error"[^>]*>{re.escape(message)}', page), page[:200]
    assert TunedModel.objects.count() == 0


def test_a_duplicate_name_is_a_readable_conflict(web, alice):
    own_model(alice, "twin")
    response = web.post("/models/", {"name": "Twin", "parent_model": "Llama-3.1-8b"}, headers=HTMX)
    assert response.status_code == 409
    assert "You already have a model called" in response.content.decode()


def test_editing_description_and_defaults(web, alice):
    own_model(alice)
    response = web.post("/models/student/", {"description": "better", "temperature": "0.3", "top_p": "0.9",
                                             "learning_rate": "0.001", "learning_steps": "3", "beta": "0.1",
                                             "epsilon": "0.2"}, headers=HTMX)
    assert response.status_code == 200 and "Saved." in response.content.decode()
    model = TunedModel.objects.get(owner=alice)
    assert (model.description, model.temperature, model.learning_steps) == ("better", 0.3, 3)
    bad = web.post("/models/student/", {"top_p": "0"}, headers=HTMX)
    assert bad.status_code == 400 and "top_p must be greater than 0 and at most 1." in bad.content.decode()


def test_deleting_a_model(web, alice):
    own_model(alice)
    response = web.post("/models/student/delete/")
    assert response.status_code == 302
    assert not TunedModel.objects.filter(owner=alice).exists()


def test_another_users_model_is_not_found_anywhere(web, bob):
    own_model(bob, "secret")
    assert web.get("/models/secret/").status_code == 404
    assert web.post("/models/secret/delete/").status_code == 404
    download = web.get("/models/secret/adapter/")
    assert download.status_code == 404
    assert download["Content-Type"].startswith("text/html")
    assert b"does not exist" in download.content
    assert TunedModel.objects.filter(owner=bob).exists()


def test_the_adapter_downloads_with_the_session_through_the_v1_code_path(web, alice, runtime):
    import io
    import zipfile

    own_model(alice)
    response = web.get("/models/student/adapter/")
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == 'attachment; filename="student-rev0.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == ["adapter_config.json", "adapter_model.safetensors"]
    missing = web.get("/models/student/adapter/?revision=7")
    assert missing.status_code == 404 and b"has no revision 7" in missing.content


def test_a_base_model_adapter_download_is_a_readable_page(web):
    response = web.get("/models/llama-3.1-8b/adapter/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b"base model and read-only" in response.content


def test_one_click_copy_of_a_base_model(web, alice):
    response = web.post("/models/copy/", {"parent": "deepseek-r1-8b", "next": "chat"})
    assert response.status_code == 302
    model = TunedModel.objects.get(owner=alice)
    assert model.name == "DeepSeek-R1-8b copy" and model.parent_name == "DeepSeek-R1-8b"
    assert response["Location"] == f"/chat/?model={model.slug}"
    web.post("/models/copy/", {"parent": "deepseek-r1-8b"})
    assert TunedModel.objects.filter(owner=alice, name="DeepSeek-R1-8b copy 2").exists()


# ---- Chat ----

def test_the_chat_page_selects_the_catalogs_default_model(web):
    page = web.get("/chat/").content.decode()
    assert re.search(r'<option value="deepseek-r1-8b"[^>]*selected', page)


def test_sending_starts_a_conversation_and_the_answer_is_kept(web, alice):
    sent = web.post("/chat/send/", {"conversation": "", "model": "deepseek-r1-8b", "system_prompt": "Be brief.",
                                    "content": "Hi there"}, headers=HTMX)
    assert sent.status_code == 200
    conversation = Conversation.objects.get(owner=alice)
    assert sent["X-Conversation-Id"] == str(conversation.pk)
    assert conversation.title == "Hi there" and conversation.system_prompt == "Be brief."
    assert 'id="conversation-list" class="convlist" aria-label="Your conversations" hx-swap-oob="true"' in \
        sent.content.decode()
    answer = web.post(f"/chat/{conversation.pk}/answer/", {"content": "Hello!", "model": "deepseek-r1-8b",
                                                          "revision": "0", "finish_reason": "stop"}, headers=HTMX)
    assert answer.status_code == 200 and "Hello!" in answer.content.decode()
    page = web.get(f"/chat/{conversation.pk}/").content.decode()
    assert "Hi there" in page and "Hello!" in page


def test_an_empty_message_or_unknown_model_is_a_readable_error(web):
    empty = web.post("/chat/send/", {"model": "deepseek-r1-8b", "content": "  "}, headers=HTMX)
    assert empty.status_code == 400 and b"Write a message first." in empty.content
    unknown = web.post("/chat/send/", {"model": "nope", "content": "hi"}, headers=HTMX)
    assert unknown.status_code == 404 and b"The model &#x27;nope&#x27; does not exist." in unknown.content


def test_another_users_conversation_is_404(web, bob):
    conversation, answer = conversation_with_answer(bob)
    assert web.get(f"/chat/{conversation.pk}/").status_code == 404
    assert web.post("/chat/send/", {"conversation": conversation.pk, "model": "deepseek-r1-8b",
                                    "content": "hi"}).status_code == 404
    assert web.post(f"/chat/{conversation.pk}/answer/", {"content": "x", "model": "deepseek-r1-8b"}).status_code == 404
    assert web.post(f"/chat/answers/{answer.pk}/rate/", {"reward": "1"}).status_code == 404
    assert web.post(f"/chat/{conversation.pk}/delete/").status_code == 404
    assert conversation.messages.count() == 2
    assert "Hello" not in web.get("/chat/").content.decode()


def test_thumbs_up_trains_the_model_at_once_with_a_single_reward(web, alice, runtime):
    own_model(alice)
    _, answer = conversation_with_answer(alice, system_prompt="Be kind.")
    response = web.post(f"/chat/answers/{answer.pk}/rate/", {"reward": "1"}, headers=HTMX)
    assert response.status_code == 200, response.content
    assert "revision 1" in response.content.decode()
    (request,) = runtime.trainings
    (group,) = request.groups
    assert group.responses == ("Hello!",) and group.rewards == (1.0,)
    assert [m["role"] for m in group.messages] == ["system", "user"]
    answer.refresh_from_db()
    assert (answer.reward, answer.trained_model, answer.trained_revision) == (1.0, "student", 1)
    assert TunedModel.objects.get(owner=alice).revision == 1


def test_rating_a_base_models_answer_explains_and_copies_in_one_click(web, alice, runtime):
    conversation, answer = conversation_with_answer(alice, model="deepseek-r1-8b")
    explained = web.post(f"/chat/answers/{answer.pk}/rate/", {"reward": "-1"}, headers=HTMX)
    assert explained.status_code == 200
    assert "is a base model, so a rating cannot train it" in explained.content.decode()
    assert not runtime.trainings and not TunedModel.objects.exists()
    copied = web.post(f"/chat/answers/{answer.pk}/rate/", {"reward": "-1", "copy": "1"}, headers=HTMX)
    assert copied.status_code == 200
    copy = TunedModel.objects.get(owner=alice)
    assert copy.parent_name == "DeepSeek-R1-8b" and copy.revision == 1
    assert runtime.trainings[0].groups[0].rewards == (-1.0,)
    assert "tiger:model-created" in copied["HX-Trigger"]
    conversation.refresh_from_db()
    assert conversation.model == copy.slug


# ---- Train by rating ----

def test_training_on_rated_candidates_shows_metrics_revision_and_chart(web, alice, runtime):
    own_model(alice)
    body = {"prompt": "Say hi", "system_prompt": "", "content_0": "Hi!", "thumbs_0": "1", "content_1": "Go away",
            "thumbs_1": "-1", "content_2": "Hello", "score_2": "4", "content_3": "unrated", "learning_steps": "2"}
    response = web.post("/train/student/run/", body, headers=HTMX)
    assert response.status_code == 200, response.content
    page = response.content.decode()
    assert "revision 1" in page and "Mean rating" in page
    assert 'id="charts" class="charts" hx-swap-oob="true"' in page and "<svg" in page
    (request,) = runtime.trainings
    assert request.groups[0].responses == ("Hi!", "Go away", "Hello")
    assert request.groups[0].rewards == (1.0, -1.0, 0.5)
    assert request.params.learning_steps == 2
    assert "<svg" in web.get("/train/?model=student").content.decode()


def test_training_without_ratings_or_on_a_base_model_says_why(web, alice, runtime):
    own_model(alice)
    unrated = web.post("/train/student/run/", {"prompt": "x", "content_0": "a"}, headers=HTMX)
    assert unrated.status_code == 400 and b"Rate at least one candidate" in unrated.content
    base = web.post("/train/llama-3.1-8b/run/", {"prompt": "x", "content_0": "a", "thumbs_0": "1"}, headers=HTMX)
    assert base.status_code == 403 and b"is a base model and read-only" in base.content
    page = web.get("/train/?model=llama-3.1-8b").content.decode()
    assert "is a base model" in page and "Copy Llama-3.1-8b to my models" in page
    assert not runtime.trainings


def test_another_users_model_cannot_be_trained(web, bob, runtime):
    own_model(bob, "theirs")
    response = web.post("/train/theirs/run/", {"prompt": "x", "content_0": "a", "thumbs_0": "1"}, headers=HTMX)
    assert response.status_code == 404 and not runtime.trainings


# ---- Docs ----

def test_docs_show_curl_with_this_servers_address(web):
    page = web.get("/docs/").content.decode()
    assert "curl http://testserver/v1/models" in page
    assert 'href="http://testserver/v1/docs"' in page


def test_playground_posts_need_the_csrf_token_that_htmx_sends_as_a_header(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/keys/")
    refused = client.post("/keys/new/", {"name": "no token"}, headers=HTMX)
    assert refused.status_code == 403 and b"data-error-message" in refused.content
    token = client.cookies["csrftoken"].value
    accepted = client.post("/keys/new/", {"name": "with token"}, headers={**HTMX, "X-CSRFToken": token})
    assert accepted.status_code == 200
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["with token"]


# ---- Round two: undo and restore, honest feedback, small fixes ----

def test_restoring_a_revision_makes_a_new_revision_equal_to_it(web, alice, runtime):
    own_model(alice)
    for _ in range(2):
        web.post("/train/student/run/", {"prompt": "x", "content_0": "a", "thumbs_0": "1"}, headers=HTMX)
    page = web.get("/models/student/").content.decode()
    assert "Restore revision 1?" in page and "a new revision is made whose weights equal revision 1" in page.lower()
    response = web.post("/models/student/revisions/1/restore/", follow=True)
    assert "Restored revision 1: student is now at revision 3" in response.content.decode()
    model = TunedModel.objects.get(owner=alice)
    assert model.revision == 3 and model.revisions.get(number=3).restored_from == 1
    assert web.post("/models/student/revisions/9/restore/").status_code == 404


def test_another_users_revision_cannot_be_restored(web, bob, runtime):
    own_model(bob, "theirs")
    assert web.post("/models/theirs/revisions/0/restore/").status_code == 404
    assert web.post("/models/llama-3.1-8b/revisions/0/restore/").status_code == 404


def test_a_rating_can_be_undone_until_the_model_moves_on(web, alice, runtime):
    own_model(alice)
    _, answer = conversation_with_answer(alice)
    web.post(f"/chat/answers/{answer.pk}/rate/", {"reward": "1"}, headers=HTMX)
    undone = web.post(f"/chat/answers/{answer.pk}/undo/", headers=HTMX)
    assert undone.status_code == 200
    page = undone.content.decode()
    assert "back to the weights of revision 0" in page and "revision 2" in page and "Good answer" in page
    assert '"revision": 2' in undone["HX-Trigger"]
    answer.refresh_from_db()
    assert answer.reward is None and answer.trained_revision is None
    model = TunedModel.objects.get(owner=alice)
    assert model.revision == 2 and model.revisions.get(number=2).restored_from == 0

    web.post(f"/chat/answers/{answer.pk}/rate/", {"reward": "-1"}, headers=HTMX)  # rated again: revision 3
    web.post("/train/student/run/", {"prompt": "x", "content_0": "a", "thumbs_0": "1"}, headers=HTMX)  # 4
    refused = web.post(f"/chat/answers/{answer.pk}/undo/", headers=HTMX)
    assert refused.status_code == 409 and b"has moved on to revision 4" in refused.content
    assert TunedModel.objects.get(owner=alice).revision == 4


def test_a_training_can_be_undone_from_the_train_page(web, alice, runtime):
    own_model(alice)
    trained = web.post("/train/student/run/", {"prompt": "x", "content_0": "a", "thumbs_0": "1"}, headers=HTMX)
    assert b"Undo this training" in trained.content
    undone = web.post("/train/student/undo/", {"revision": "1"}, headers=HTMX)
    assert undone.status_code == 200 and b"back to the weights of revision 0" in undone.content
    assert TunedModel.objects.get(owner=alice).revision == 2
    again = web.post("/train/student/undo/", {"revision": "1"}, headers=HTMX)
    assert again.status_code == 409 and b"moved on to revision 2" in again.content
    assert web.post("/train/nope/undo/", {"revision": "1"}, headers=HTMX).status_code == 404


def test_equal_ratings_say_why_nothing_changed_in_a_neutral_box(web, alice, runtime, monkeypatch):
    own_model(alice)

    async def unchanged(request):
        return TrainingResult(changed=False, reason="all rewards in every group are equal (1): nothing to learn",
                              loss=None, kl=None, reward_mean=1.0, reward_std=0.0, clip_fraction=None, tokens=0,
                              steps=0, duration_ms=1)
    monkeypatch.setattr(runtime, "train", unchanged)
    body = {"prompt": "x", "content_0": "a", "thumbs_0": "1", "content_1": "b", "thumbs_1": "1"}
    page = web.post("/train/student/run/", body, headers=HTMX).content.decode()
    assert "result--neutral" in page and "All ratings are equal: nothing to learn" in page
    assert "Undo this training" not in page
    train_page = web.get("/train/?model=student").content.decode()
    assert '<option value="1"' in train_page  # a single candidate can be sampled and rated


def test_the_rating_chart_is_labelled_as_the_users_ratings(web, alice, runtime):
    own_model(alice)
    page = web.post("/train/student/run/", {"prompt": "x", "content_0": "a", "thumbs_0": "1"},
                    headers=HTMX).content.decode()
    assert "Mean rating you gave by revision" in page and "not whether it got better" in page


def test_an_unknown_model_in_the_address_is_said_not_silently_replaced(web):
    chat = web.get("/chat/?model=nope").content.decode()
    assert "There is no model “nope”" in chat and "so this chat uses deepseek-r1-8b" in chat
    assert "There is no model “nope”" in web.get("/train/?model=nope").content.decode()
    assert "There is no model" not in web.get("/chat/").content.decode()


def test_long_titles_end_at_a_word_with_an_ellipsis(web):
    from playground.services import conversation_title

    title = conversation_title("Please explain in great detail how the low rank adapters of a transformer work")
    assert title.endswith("…") and len(title) <= 60
    assert title[:-1] == "Please explain in great detail how the low rank adapters of"[:len(title) - 1]
    assert not title[:-1].endswith(" ") and "adapters of a" not in title
    assert conversation_title("Short one") == "Short one"


def test_saving_defaults_also_refreshes_the_about_card(web, alice):
    own_model(alice)
    page = web.post("/models/student/", {"description": "See https://example.com/" + "a" * 80},
                    headers=HTMX).content.decode()
    assert 'id="model-about"' in page and 'hx-swap-oob="true"' in page and "example.com/aaaa" in page


def test_the_revoke_dialog_names_the_key_by_prefix_and_date(web, alice, make_key):
    key = ApiKey.objects.create(owner=alice, name="same", prefix="tc-abcdefgh", hashed_key="x" * 64)
    page = web.get("/keys/").content.decode()
    assert f"The key {key.prefix}…, created {key.created_at:%Y-%m-%d %H:%M}" in page


def test_new_turns_of_another_tab_are_fetched_after_the_last_one_shown(web, bob_web, alice):
    conversation, answer = conversation_with_answer(alice)
    first = conversation.messages.first()
    page = web.get(f"/chat/{conversation.pk}/turns/?after={first.pk}").content.decode()
    assert f'id="turn-{answer.pk}"' in page and f'id="turn-{first.pk}"' not in page
    assert bob_web.get(f"/chat/{conversation.pk}/turns/").status_code == 404


def test_an_ended_session_is_a_401_for_scripts_and_sign_in_back_to_the_page_for_forms(client, alice):
    conversation, answer = conversation_with_answer(alice)
    for path in ("/chat/send/", f"/chat/answers/{answer.pk}/rate/", "/train/student/run/", "/keys/new/"):
        response = client.post(path, {"content": "kept"}, headers=HTMX)
        assert response.status_code == 401 and response["X-Session-Ended"] == "1", path
        assert b"data-error-message" in response.content
    form = client.post("/models/student/revisions/1/restore/", headers={"Referer": "http://testserver/models/student/"})
    assert form.status_code == 302 and form["Location"] == "/login/?next=/models/student/"
    elsewhere = client.post("/chat/send/", headers={"Referer": "https://evil.example/chat/"})
    assert elsewhere["Location"] == "/login/?next=/"
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_a_thinking_models_reasoning_is_folded_above_the_answer_and_kept_whole(web, alice):
    conversation = Conversation.objects.create(owner=alice, title="Think", model="deepseek-r1-8b")
    Message.objects.create(conversation=conversation, role="user", content="Name a colour.")
    Message.objects.create(conversation=conversation, role="assistant", model="deepseek-r1-8b", revision=0,
                           content="A colour, then.\n</think>\n\nBlue.")
    page = web.get(f"/chat/{conversation.pk}/").content.decode()
    assert '<summary>Reasoning' in page and "A colour, then." in page
    assert 'data-full="A colour, then.\n&lt;/think&gt;\n\nBlue."' in page
    assert ">Blue.</div>" in page and "&lt;/think&gt;\n\nBlue.</div>" not in page


def test_an_invalid_setting_is_refused_at_its_field_before_the_message_is_saved(web, alice):
    body = {"content": "Hello", "model": "llama-3.1-8b", "temperature": "5", "top_p": "0.9", "max_tokens": "64"}
    refused = web.post("/chat/send/", body, headers=HTMX)
    assert refused.status_code == 400
    assert refused.json() == {"errors": {"temperature": "Ensure this value is less than or equal to 2.0."}}
    too_long = web.post("/chat/send/", {**body, "temperature": "1", "max_tokens": "999999"}, headers=HTMX)
    assert "max_tokens" in too_long.json()["errors"]
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_settings_are_kept_per_conversation(web, alice):
    body = {"content": "Hello", "model": "llama-3.1-8b", "temperature": "0.3", "top_p": "0.5", "max_tokens": "77"}
    sent = web.post("/chat/send/", body, headers=HTMX)
    conversation = Conversation.objects.get(pk=sent["X-Conversation-Id"])
    assert conversation.settings == {"temperature": 0.3, "top_p": 0.5, "max_tokens": 77}
    page = web.get(f"/chat/{conversation.pk}/").content.decode()
    assert 'name="max_tokens"' in page and 'value="77"' in page and 'value="0.3"' in page and "data-saved" in page


def test_a_question_left_without_answer_is_marked_with_regenerate(web, alice):
    conversation, answer = conversation_with_answer(alice)
    assert "data-interrupted" not in web.get(f"/chat/{conversation.pk}/").content.decode()
    Message.objects.create(conversation=conversation, role="user", content="And then?")
    page = web.get(f"/chat/{conversation.pk}/").content.decode()
    assert "No answer was saved for this message" in page and "data-regenerate" in page


def test_turns_can_be_deleted_one_or_from_one_on(web, bob_web, alice):
    conversation, answer = conversation_with_answer(alice)
    later = Message.objects.create(conversation=conversation, role="user", content="More")
    assert bob_web.post(f"/chat/turns/{answer.pk}/delete/").status_code == 404
    assert web.post(f"/chat/turns/{later.pk}/delete/").status_code == 204
    assert list(conversation.messages.values_list("content", flat=True)) == ["Say hello.", "Hello!"]
    first = conversation.messages.first()
    assert web.post(f"/chat/turns/{first.pk}/delete/", {"from_here": "1"}).status_code == 204
    assert not conversation.messages.exists()


def test_numbers_in_forms_too_long_for_an_integer_are_refused_not_a_500(web, alice, runtime):
    """int() raises over 4300 digits, and the database's integers end at 10 digits: a 500 either way."""
    own_model(alice)
    conversation, _ = conversation_with_answer(alice)
    huge = "9" * 5000
    sent = web.post("/chat/send/", {"conversation": huge, "model": "deepseek-r1-8b", "content": "hi"}, headers=HTMX)
    assert sent.status_code == 404
    for revision in (huge, "9" * 30):
        answer = web.post(f"/chat/{conversation.pk}/answer/", {"content": "Hi", "model": "deepseek-r1-8b",
                                                              "revision": revision, "finish_reason": "stop"}, headers=HTMX)
        assert answer.status_code == 200 and conversation.messages.last().revision is None
    assert web.get(f"/chat/{conversation.pk}/turns/?after={huge}").status_code == 200
    trained = web.post("/train/student/run/", {"prompt": "Say hi", "content_0": "Hi!", "score_0": huge}, headers=HTMX)
    assert trained.status_code == 400 and not runtime.trainings  # no rating: nothing to train on
    assert web.post("/train/student/undo/", {"revision": huge}, headers=HTMX).status_code == 400
