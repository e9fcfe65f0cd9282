import pytest

from apikeys import keys
from apikeys.models import ApiKey
from apikeys.services import api_key_create, api_key_revoke
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_a_valid_key_lists_the_models(api):
    response = api.get("/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()][:2] == ["llama-3.1-8b", "deepseek-r1-8b"]


@pytest.mark.parametrize(
    "header",
    [
        None,  # missing
        "Bearer",  # no key
        "Token tc-abc",  # wrong scheme
        "Bearer tc-not-a-real-key",  # malformed
        "Bearer " + keys.generate(),  # well-formed but unknown
        "Bearer a b",
    ],
)
def test_a_missing_malformed_or_unknown_key_is_a_401_error_object(anon_api, header):
    headers = {"Authorization": header} if header else {}
    response = anon_api.get("/v1/models", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["message"]


def test_a_revoked_key_is_refused_at_once(alice):
    created = api_key_create(owner=alice, name="ci")
    client = ApiClient(created.secret)
    assert client.get("/v1/models").status_code == 200
    api_key_revoke(owner=alice, key_id=created.api_key.pk)
    response = client.get("/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_only_a_prefix_and_a_sha256_are_stored(alice):
    created = api_key_create(owner=alice, name="ci")
    row = ApiKey.objects.get(pk=created.api_key.pk)
    assert created.secret.startswith("tc-") and len(created.secret) >= 3 + 43
    assert row.prefix == created.secret[:11]
    assert row.hashed_key == keys.digest(created.secret)
    assert created.secret not in {str(v) for v in row.__dict__.values()}


def test_using_a_key_records_when_it_was_last_used(alice):
    from apikeys.last_used import recorder

    created = api_key_create(owner=alice, name="ci")
    assert created.api_key.last_used_at is None
    ApiClient(created.secret).get("/v1/models")
    recorder.flush()  # a server's writer thread does this (tests/apikeys/test_key_cache.py)
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None


def test_a_key_of_a_deactivated_user_is_refused(alice):
    created = api_key_create(owner=alice, name="ci")
    alice.is_active = False
    alice.save()
    assert ApiClient(created.secret).get("/v1/models").status_code == 401


def test_one_user_cannot_revoke_another_users_key(alice, bob):
    from tigercity.errors import NotFound

    created = api_key_create(owner=alice, name="ci")
    with pytest.raises(NotFound):
        api_key_revoke(owner=bob, key_id=created.api_key.pk)
