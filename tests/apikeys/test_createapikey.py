import io

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_createapikey_prints_a_working_key_once(alice):
    out = io.StringIO()
    call_command("createapikey", "--user", "alice", "--key-name", "script", stdout=out)
    key = out.getvalue().strip()
    assert key.startswith("tc-")
    assert ApiClient(key).get("/v1/models").status_code == 200
    assert alice.api_keys.get().name == "script"


def test_createapikey_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named"):
        call_command("createapikey", "--user", "nobody", "--key-name", "x", stdout=io.StringIO())


def test_createapikey_can_create_the_user(db):
    out = io.StringIO()
    call_command("createapikey", "--user", "ops", "--key-name", "x", "--create-user", stdout=out)
    assert ApiClient(out.getvalue().strip()).get("/v1/models").status_code == 200
