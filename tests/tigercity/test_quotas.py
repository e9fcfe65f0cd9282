"""Brakes on accounts and resources: sign-in and sign-up throttling per username and client address, and
per-user caps on keys, models, trainings and stored adapter bytes, each answered with an error that names
the limit and its value."""
import pytest
from django.test import Client

from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-42"  # tests/conftest.py's make_user
HELLO = [{"role": "user", "content": "Hi"}]


def sign_in(username, password, address="10.0.0.1"):
    client = Client(REMOTE_ADDR=address)
    return client, client.post("/login/", {"username": username, "password": password})


def test_wrong_passwords_lock_the_username_out_even_for_the_right_one(alice, settings):
    settings.TIGER = {**settings.TIGER, "SIGNIN_FAILURES": 3}
    for _ in range(3):
        assert sign_in("alice", "wrong")[1].status_code == 200  # the form again, with its error
    client, response = sign_in("Alice", PASSWORD, address="10.0.0.2")  # another address, same username
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "TIGER_SIGNIN_FAILURES" in response.content.decode() and "limit is 3" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failures_from_one_address_lock_that_address_out(alice, bob, settings):
    settings.TIGER = {**settings.TIGER, "SIGNIN_FAILURES_PER_ADDRESS": 4}
    for name in ("x1", "x2", "x3", "x4"):
        sign_in(name, "wrong", address="10.0.0.9")
    assert sign_in("bob", PASSWORD, address="10.0.0.9")[1].status_code == 429
    assert sign_in("bob", PASSWORD, address="10.0.0.10")[1].status_code == 302  # another address signs in


def test_a_successful_sign_in_clears_the_usernames_failures(alice, settings):
    settings.TIGER = {**settings.TIGER, "SIGNIN_FAILURES": 2}
    sign_in("alice", "wrong")
    assert sign_in("alice", PASSWORD)[1].status_code == 302
    sign_in("alice", "wrong")
    assert sign_in("alice", PASSWORD)[1].status_code == 302


def test_sign_ups_per_address_are_limited(settings):
    settings.TIGER = {**settings.TIGER, "SIGNUPS_PER_ADDRESS": 2}
    codes = []
    for name in ("u1", "u2", "u3"):
        response = Client(REMOTE_ADDR="10.0.1.1").post("/signup/", {"username": name, "password1": PASSWORD,
                                                                     "password2": PASSWORD})
        codes.append(response.status_code)
    assert codes == [302, 302, 429]
    assert "TIGER_SIGNUPS_PER_ADDRESS" in response.content.decode()


def test_keys_per_user_are_capped_and_a_revoked_key_frees_its_place(alice, settings):
    from apikeys.services import api_key_create, api_key_revoke
    from tigercity.quotas import QuotaExceeded

    settings.TIGER = {**settings.TIGER, "MAX_KEYS_PER_USER": 2}
    first = api_key_create(owner=alice, name="one")
    api_key_create(owner=alice, name="two")
    client = Client()
    client.force_login(alice)
    response = client.post("/keys/new/", {"name": "three"})
    assert response.status_code == 403 and "TIGER_MAX_KEYS_PER_USER" in response.content.decode()
    with pytest.raises(QuotaExceeded):
        api_key_create(owner=alice, name="three")
    api_key_revoke(owner=alice, key_id=first.api_key.pk)
    api_key_create(owner=alice, name="three")


def test_models_per_user_are_capped(api, settings):
    settings.TIGER = {**settings.TIGER, "MAX_MODELS_PER_USER": 1}
    assert api.post("/v1/models", {"name": "one", "parent_model": "llama-3.1-8b"}).status_code == 201
    response = api.post("/v1/models", {"name": "two", "parent_model": "llama-3.1-8b"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "too_many_models" and error["type"] == "permission_error"
    assert "TIGER_MAX_MODELS_PER_USER" in error["message"] and "is 1" in error["message"]


def test_trainings_per_user_are_capped_and_give_their_place_back(api, alice, settings):
    from tigercity.quotas import TRAININGS

    settings.TIGER = {**settings.TIGER, "MAX_TRAININGS_PER_USER": 1}
    api.post("/v1/models", {"name": "mine", "parent_model": "llama-3.1-8b"})
    body = {"model": "mine", "messages": HELLO, "responses": [{"content": "a", "reward": 1}, {"content": "b", "reward": 0}]}
    release = TRAININGS.acquire(alice.pk)  # one training already running
    try:
        response = api.post("/v1/train", body)
    finally:
        release()
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "too_many_trainings"
    assert "TIGER_MAX_TRAININGS_PER_USER" in response.json()["error"]["message"]
    assert TRAININGS.in_use(alice.pk) == 0


def test_stored_adapter_bytes_per_user_are_capped(api, alice, settings):
    from inference.models import Revision, TunedModel
    from inference import adapter_files

    api.post("/v1/models", {"name": "mine", "parent_model": "llama-3.1-8b", "rank": 2})
    model = TunedModel.objects.get(owner=alice, slug="mine")
    # Write revision 0's files, as a first training would.
    from asgiref.sync import async_to_sync
    from inference.training import ensure_revision_dir

    async_to_sync(ensure_revision_dir)(model, 0)
    size = adapter_files.stored_bytes(Revision.objects.get(model=model, number=0).path)
    assert size > 0
    settings.TIGER = {**settings.TIGER, "MAX_ADAPTER_BYTES_PER_USER": 2 * size - 1}
    response = api.post("/v1/models", {"name": "copy", "parent_model": "mine"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "adapter_storage_full" and "TIGER_MAX_ADAPTER_BYTES_PER_USER" in error["message"]
    assert str(2 * size - 1) in error["message"]
    restore = api.post("/v1/models/mine/revisions/0/restore")
    assert restore.status_code == 413
    settings.TIGER = {**settings.TIGER, "MAX_ADAPTER_BYTES_PER_USER": 2 * size}
    assert api.post("/v1/models", {"name": "copy", "parent_model": "mine"}).status_code == 201
