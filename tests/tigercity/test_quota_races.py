"""Two requests at once cannot both take the last place under a per-user cap (tigercity/quotas.py, and
the Playground's prompt sets): the count is taken under a lock on the owner's row, so the second waits for the first to commit and is then
refused. PostgreSQL only: SQLite runs one write transaction at a time by itself (tools.run_tests has a
PostgreSQL pass)."""
import threading

import pytest
from django.db import connection, connections

from apikeys.models import ApiKey
from apikeys.services import api_key_create
from inference.models import TunedModel
from inference.services import model_create
from playground import comparisons
from playground.models import PromptSet
from tigercity.errors import ApiError

# cap -> (the rows it counts, how a test sets it to 1, one request that takes a place)
CAPS = {
    "api keys": (ApiKey, lambda settings, monkeypatch: _setting(settings, "MAX_KEYS_PER_USER"),
                 lambda owner, name: api_key_create(owner=owner, name=name)),
    "models": (TunedModel, lambda settings, monkeypatch: _setting(settings, "MAX_MODELS_PER_USER"),
               lambda owner, name: model_create(owner=owner, name=name, parent_model="Llama-3.1-8b")),
    "prompt sets": (PromptSet, lambda settings, monkeypatch: monkeypatch.setattr(comparisons, "MAX_PROMPT_SETS", 1),
                    lambda owner, name: comparisons.prompt_set_create(owner=owner, name=name, prompts_text="hi")),
}


def _setting(settings, name: str) -> None:
    settings.TIGER = {**settings.TIGER, name: 1}


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
    model_class, cap_at_one, create_one = CAPS[cap]
    cap_at_one(settings, monkeypatch)
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
        except ApiError as exc:  # QuotaExceeded, or the Conflict of a Playground cap
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
