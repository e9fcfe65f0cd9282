"""Two requests at once cannot both take the last place under a per-user cap (tigercity/quotas.py): the
count is taken under a lock on the owner's row, so the second waits for the first to commit and is then
refused. PostgreSQL only: SQLite runs one write transaction at a time by itself (tools.run_tests has a
PostgreSQL pass)."""
import threading

import pytest
from django.db import connection, connections

from apikeys.models import ApiKey
from apikeys.services import api_key_create
from inference.models import TunedModel
from inference.services import model_create
from tigercity.quotas import QuotaExceeded

CAPS = {
    "api keys": (ApiKey, "MAX_KEYS_PER_USER", lambda owner, name: api_key_create(owner=owner, name=name)),
    "models": (TunedModel, "MAX_MODELS_PER_USER",
               lambda owner, name: model_create(owner=owner, name=name, parent_model="Llama-3.1-8b")),
}


def _wait_until_blocked_or_done(thread: threading.Thread) -> None:
    """Until `thread` waits for a row lock held by another transaction, or has ended (a state, polled)."""
    with connection.cursor() as cursor:
        for _ in range(6000):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if not thread.is_alive() or cursor.fetchone()[0]:
                return
            threading.Event().wait(0.01)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_cannot_both_take_the_last_place(cap, alice, settings, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serializes write transactions by itself")
    model_class, setting, create_one = CAPS[cap]
    settings.TIGER = {**settings.TIGER, setting: 1}
    counted, go_on, outcomes = threading.Event(), threading.Event(), {}
    create = model_class.objects.create

    def create_once_the_other_request_started(**kwargs):
        if threading.current_thread().name == "first":  # it has counted: the place looks free
            counted.set()
            go_on.wait(60)
        return create(**kwargs)

    monkeypatch.setattr(model_class.objects, "create", create_once_the_other_request_started)

    def request(name):
        try:
            create_one(alice, name)
            outcomes[name] = "created"
        except QuotaExceeded as exc:
            outcomes[name] = exc.code
        finally:
            connections.close_all()

    first = threading.Thread(target=request, args=("first",), name="first")
    first.start()
    assert counted.wait(60)
    second = threading.Thread(target=request, args=("second",), name="second")
    second.start()
    _wait_until_blocked_or_done(second)
    go_on.set()
    first.join(60)
    second.join(60)
    assert outcomes["first"] == "created"
    assert outcomes["second"].startswith("too_many"), outcomes
    assert model_class.objects.filter(owner=alice).count() == 1
