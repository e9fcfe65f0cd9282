"""User models resolved for generations, kept per web process (inference/resolved_models.py): a repeated
generation reads no database, and any change to the owner's models is seen by the next one."""
import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inference.generation import generation_request_build
from inference.revisions import revision_commit
from inference.services import model_create, model_delete, model_update
from tigercity.errors import NotFound

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Hello!"}]


def build(owner, model="student", **data):
    return generation_request_build(owner=owner, data={"model": model, "messages": HELLO, **data})


def model_queries(captured) -> list[str]:
    return [q["sql"] for q in captured if "inference_" in q["sql"]]


@pytest.fixture
def student(alice):
    return model_create(owner=alice, name="student", parent_model="llama-3.1-8b", rank=4)


def test_a_repeated_generation_of_a_user_model_reads_no_database(alice, student):
    with CaptureQueriesContext(connection) as once:
        first, _ = build(alice)
    with CaptureQueriesContext(connection) as again:
        request, model = build(alice, " Student")  # the same model, however the name is written
    assert model_queries(once.captured_queries) and model_queries(again.captured_queries) == []
    assert request.adapter == first.adapter and request.adapter.revision == 0 and model.api_id == "student"


def test_a_new_revision_new_defaults_and_a_deletion_are_seen_by_the_next_generation(alice, student):
    build(alice)
    revision_commit(model=student, number=1, path=f"{student.key}/rev-1")
    request, _ = build(alice)
    assert request.adapter.revision == 1 and request.adapter.path.endswith("rev-1")

    model_update(model=student, temperature=0.25)
    request, _ = build(alice)
    assert request.params.temperature == 0.25

    model_delete(model=student)
    with pytest.raises(NotFound):
        build(alice)


def test_another_users_model_is_never_found_through_the_cache(alice, bob, student):
    build(alice)
    with pytest.raises(NotFound):
        build(bob)


def test_a_request_gets_its_own_copy_of_the_model(alice, student):
    _, first = build(alice)
    first.temperature = 1.75  # a view changing the object it was given
    request, second = build(alice)
    assert second is not first and request.params.temperature == student.temperature


def test_a_pinned_revision_is_read_from_the_database(alice, student):
    revision_commit(model=student, number=1, path=f"{student.key}/rev-1")
    build(alice)
    request, _ = build(alice, revision=0)
    assert request.adapter.revision == 0


@pytest.mark.django_db(transaction=True)
async def test_an_async_build_of_a_resolved_model_needs_no_hop_to_a_thread(monkeypatch, make_user):
    from asgiref.sync import sync_to_async

    from inference import generation
    from tigercity.errors import InvalidRequest

    alice = await sync_to_async(make_user)("alice")
    await sync_to_async(model_create)(owner=alice, name="student", parent_model="llama-3.1-8b", rank=4)
    hops = []
    monkeypatch.setattr(generation, "sync_to_async", lambda fn: hops.append(fn) or sync_to_async(fn))
    data = {"model": "student", "messages": HELLO}
    first, _ = await generation.generation_request_abuild(owner=alice, data=data)
    second, model = await generation.generation_request_abuild(owner=alice, data=data)
    assert len(hops) == 1, "the first build reads the database (a hop); the second has nothing to read"
    assert second.adapter == first.adapter and model.api_id == "student"
    try:  # a grammar is compiled on a thread, whatever the schema turns out to be
        await generation.generation_request_abuild(owner=alice, data={**data, "response_format": {"type": "object"}})
    except InvalidRequest:
        pass
    assert len(hops) == 2


@pytest.mark.django_db(transaction=True)  # autocommit, as a web request runs
def test_a_change_that_cannot_reach_the_shared_cache_changes_nothing(alice, monkeypatch):
    """A change written while the generation cannot be bumped would leave every process generating with
    the old row once Redis answers again: the change is refused instead."""
    from tests.fakes import SharedCacheDownForWrites
    from tigercity import cache as shared_cache

    student = model_create(owner=alice, name="student", parent_model="llama-3.1-8b", rank=4)
    build(alice)  # cached in this process
    monkeypatch.setattr(shared_cache, "_shared", SharedCacheDownForWrites(shared_cache.shared()))
    for change in (lambda: model_update(model=student, temperature=0.25),
                   lambda: revision_commit(model=student, number=1, path=f"{student.key}/rev-1"),
                   lambda: model_delete(model=student)):
        with pytest.raises(redis.ConnectionError):
            change()
    student.refresh_from_db()
    assert student.temperature != 0.25 and student.revision == 0


@pytest.mark.django_db(transaction=True)  # autocommit: the write commits as it is made, as in a web request
def test_a_model_read_while_its_change_is_being_written_is_stale_once_it_is(alice):
    from django.db.models.signals import pre_save

    from inference.models import TunedModel

    student = model_create(owner=alice, name="student", parent_model="llama-3.1-8b", rank=4)
    seen = []

    def concurrent_generation(sender, instance, **kwargs):  # runs after inference's own pre_save receiver
        seen.append(build(alice)[0].params.temperature)

    pre_save.connect(concurrent_generation, sender=TunedModel, dispatch_uid="test.concurrent_generation")
    try:
        model_update(model=student, temperature=0.25)
    finally:
        pre_save.disconnect(dispatch_uid="test.concurrent_generation", sender=TunedModel)
    assert seen and seen[0] != 0.25  # it read the row as it was, and cached it
    assert build(alice)[0].params.temperature == 0.25
