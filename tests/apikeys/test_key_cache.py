"""API keys cached per web process (apikeys/key_cache.py): no database on a cached request, revocation
refused at the next request in every process (a generation counter in the shared cache), last use
written off the request path (apikeys/last_used.py)."""
import os
import sqlite3
import time
import uuid

import pytest
import redis
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from apikeys import key_cache, keys
from apikeys.last_used import LastUsed, recorder
from apikeys.models import ApiKey
from apikeys.services import api_key_authenticate, api_key_create, api_key_revoke
from tests.conftest import ApiClient
from tests.fakes import SharedCacheDownForWrites
from tigercity import generations
from tigercity.cache import cache_settings

REDIS_URL = os.environ.get("TIGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def key_queries(captured) -> list[str]:
    return [q["sql"] for q in captured if "apikeys_apikey" in q["sql"]]


def writes(captured) -> list[str]:
    return [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))]


@pytest.mark.django_db
def test_a_cached_key_costs_no_query_and_no_request_writes(alice):
    secret = api_key_create(owner=alice, name="ci").secret
    client = ApiClient(secret)
    with CaptureQueriesContext(connection) as first:
        assert client.get("/v1/models").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/v1/models").status_code == 200
    assert key_queries(first.captured_queries), "the first request checks the key in the database"
    assert key_queries(second.captured_queries) == []
    assert writes(first.captured_queries) == [] and writes(second.captured_queries) == []


@pytest.mark.django_db
def test_the_process_cache_is_keyed_by_the_keys_hash_and_holds_no_key(alice):
    secret = api_key_create(owner=alice, name="ci").secret
    assert api_key_authenticate(key=secret) is not None
    cache = key_cache.process_cache
    assert cache.get(keys.digest(secret), cache.generation()).owner == alice
    assert cache.get(secret, cache.generation()) is None
    assert all(secret not in str(v) for v in vars(cache.get(keys.digest(secret), cache.generation())).values())


@pytest.mark.django_db
def test_each_request_gets_its_own_copy_of_the_key_and_its_owner(alice):
    secret = api_key_create(owner=alice, name="ci").secret
    first = api_key_authenticate(key=secret)
    first.owner.username = "changed by a view"
    second = api_key_authenticate(key=secret)
    assert second is not first and second.owner is not first.owner
    assert second.owner.username == "alice"


@pytest.mark.django_db
def test_a_deleted_key_and_a_deleted_user_are_refused_at_once(alice, bob, make_key):
    one, two = api_key_create(owner=alice, name="one"), make_key(bob)
    assert api_key_authenticate(key=one.secret) and api_key_authenticate(key=two)
    ApiKey.objects.filter(pk=one.api_key.pk).first().delete()
    bob.delete()
    assert api_key_authenticate(key=one.secret) is None
    assert api_key_authenticate(key=two) is None


@pytest.mark.django_db
def test_signing_in_does_not_empty_the_key_caches(alice):
    from django.contrib.auth.models import update_last_login

    secret = api_key_create(owner=alice, name="ci").secret
    api_key_authenticate(key=secret)
    before = key_cache.generation()
    update_last_login(None, alice)
    assert key_cache.generation() == before
    alice.first_name = "Alice"
    alice.save()
    assert key_cache.generation() != before


@pytest.mark.django_db
def test_with_the_key_cache_off_every_request_asks_the_database(alice, settings):
    settings.TIGER = {**settings.TIGER, "KEY_CACHE": False}
    client = ApiClient(api_key_create(owner=alice, name="ci").secret)
    client.get("/v1/models")
    with CaptureQueriesContext(connection) as again:
        assert client.get("/v1/models").status_code == 200
    assert key_queries(again.captured_queries)


@pytest.mark.django_db
def test_an_entry_older_than_key_cache_seconds_is_checked_again(alice, settings, monkeypatch):
    secret = api_key_create(owner=alice, name="ci").secret
    api_key_authenticate(key=secret)
    settings.TIGER = {**settings.TIGER, "KEY_CACHE_SECONDS": 5}
    later = time.monotonic() + 6
    monkeypatch.setattr(generations.time, "monotonic", lambda: later)
    with CaptureQueriesContext(connection) as again:
        assert api_key_authenticate(key=secret) is not None
    assert key_queries(again.captured_queries)


# -- several web processes: two caches of their own over one Redis ----------------------------------


@pytest.fixture
def redis_caches(settings):
    """The deployment's cache on Redis (a namespace of its own); yields a factory of independent clients
    of it, one per simulated web process."""
    import redis
    from django.core.cache import caches

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        if os.environ.get("TIGER_REQUIRE_SERVICES") or os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {e}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {e}")
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = cache_settings(REDIS_URL, namespace)
    try:
        yield lambda: caches.create_connection("default")
    finally:
        for key in client.keys(namespace + ":*"):
            client.delete(key)
        client.close()


@pytest.mark.django_db
def test_a_key_revoked_in_one_process_is_refused_by_the_next_request_of_every_process(alice, redis_caches, monkeypatch):
    created = api_key_create(owner=alice, name="ci")
    processes = [key_cache.KeyCache(cache=redis_caches()) for _ in range(2)]

    def authenticate_in(process):
        monkeypatch.setattr(key_cache, "process_cache", process)
        with CaptureQueriesContext(connection) as queries:
            found = api_key_authenticate(key=created.secret)
        return found, bool(key_queries(queries.captured_queries))

    for process in processes:
        assert authenticate_in(process)[0] is not None
        found, asked_the_database = authenticate_in(process)
        assert found is not None and not asked_the_database, "each process now answers from its own cache"

    monkeypatch.setattr(key_cache, "process_cache", processes[0])
    api_key_revoke(owner=alice, key_id=created.api_key.pk)  # in the first process; the second hears of it
    for process in processes:
        found, asked_the_database = authenticate_in(process)
        assert found is None and asked_the_database


@pytest.mark.django_db
def test_the_shared_cache_holds_the_generation_and_no_key(alice, redis_caches):
    import redis

    created = api_key_create(owner=alice, name="ci")
    process = key_cache.KeyCache(cache=redis_caches())
    generation = process.generation()
    process.put(created.api_key.hashed_key, api_key_authenticate(key=created.secret), generation)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        stored = {k: client.get(k) for k in client.keys("*")}
    finally:
        client.close()
    assert all(created.secret.encode() not in k + (v or b"") for k, v in stored.items())
    assert all(created.api_key.hashed_key.encode() not in k + (v or b"") for k, v in stored.items())


@pytest.mark.slow
def test_two_web_processes_refuse_a_key_revoked_by_a_third(tmp_path, redis_caches):
    """Two web servers on one database and one Redis; the key is revoked by `manage.py shell`."""
    import httpx

    from tests.live_server import LiveServer

    env = {"REDIS_URL": REDIS_URL, "TIGER_NAMESPACE": f"test-{uuid.uuid4().hex[:12]}", "TIGER_ENGINE": "off",
           "TIGER_RATE_LIMIT": "off"}
    data = tmp_path / "data"
    servers = [LiveServer(data, env).start(), LiveServer(data, env).start()]
    try:
        secret = servers[0].create_key("alice")

        def status(server) -> int:
            return httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code

        assert [status(s) for s in servers] == [200, 200]
        # Behind the application's back (no signal, no bump): both still answer from their caches, which
        # shows that what refuses the key below is the revocation reaching them, not a database look-up.
        db = sqlite3.connect(data / "db.sqlite3")
        db.execute("UPDATE auth_user SET is_active = 0 WHERE username = 'alice'")
        db.commit()
        db.close()
        assert [status(s) for s in servers] == [200, 200]

        servers[0].manage("shell", "-c", "from apikeys.models import ApiKey; from apikeys.services import api_key_revoke; "
                                         "k = ApiKey.objects.get(); api_key_revoke(owner=k.owner, key_id=k.pk)")
        assert [status(s) for s in servers] == [401, 401]
    finally:
        for server in servers:
            server.stop()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(env["TIGER_NAMESPACE"] + ":*"):
            client.delete(key)
        client.close()


# -- last use, written off the request path ------------------------------------------------------------


@pytest.mark.django_db
def test_a_use_is_noted_once_per_precision_and_written_by_flush(alice):
    created = api_key_create(owner=alice, name="ci")
    client = ApiClient(created.secret)
    client.get("/v1/models")
    client.get("/v1/models")
    assert recorder.pending() == 1
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is None, "no request writes it"
    assert recorder.flush() == 1
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None
    client.get("/v1/models")
    assert recorder.pending() == 0, "within the precision a use is not noted again"


@pytest.mark.django_db
def test_flush_never_moves_last_use_back(alice):
    from django.utils import timezone

    created = api_key_create(owner=alice, name="ci")
    later = timezone.now() + timezone.timedelta(hours=1)
    ApiKey.objects.filter(pk=created.api_key.pk).update(last_used_at=later)  # another process's write
    recorder.note(created.api_key.pk)
    recorder.flush()
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at == later


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_a_noted_use(alice):
    created = api_key_create(owner=alice, name="ci")
    writer = LastUsed()
    try:
        writer.note(created.api_key.pk)
        deadline = time.monotonic() + 30  # a bound for a failure, not a guess: the loop ends as soon as it is written
        while ApiKey.objects.get(pk=created.api_key.pk).last_used_at is None:
            assert time.monotonic() < deadline, "the writer thread did not write the use"
            time.sleep(0.05)
    finally:
        writer.stop()
    assert writer.pending() == 0


@pytest.mark.django_db(transaction=True)
def test_a_failed_write_is_retried_without_another_use(alice):
    created = api_key_create(owner=alice, name="ci")
    writer = LastUsed()
    real_flush, calls = writer.flush, []

    def flush_failing_once():
        calls.append(1)
        if len(calls) == 1:  # as SQLite's "database table is locked" does under a concurrent writer
            raise OperationalError("database table is locked")
        return real_flush()

    writer.flush = flush_failing_once
    try:
        writer.note(created.api_key.pk)  # the only note: no later request wakes the writer again
        deadline = time.monotonic() + 30  # a bound for a failure, not a guess: the loop ends once written
        while ApiKey.objects.get(pk=created.api_key.pk).last_used_at is None:
            assert time.monotonic() < deadline, "the failed write was not retried"
            time.sleep(0.05)
    finally:
        writer.stop()
    assert len(calls) >= 2



@pytest.mark.django_db(transaction=True)  # autocommit, as a web request runs
def test_a_revocation_that_cannot_reach_the_shared_cache_changes_nothing(alice, monkeypatch):
    """Revoking writes the database and bumps the generation: if the bump fails, other processes would
    trust the revoked key once Redis answers again. So the change is refused, the key stays as it was."""
    from tigercity import cache as shared_cache

    created = api_key_create(owner=alice, name="ci")
    assert api_key_authenticate(key=created.secret) is not None  # cached in this process
    monkeypatch.setattr(shared_cache, "_shared", SharedCacheDownForWrites(shared_cache.shared()))
    with pytest.raises(redis.ConnectionError):
        api_key_revoke(owner=alice, key_id=created.api_key.pk)
    alice.is_active = False
    with pytest.raises(redis.ConnectionError):
        alice.save()
    with pytest.raises(redis.ConnectionError):
        ApiKey.objects.get(pk=created.api_key.pk).delete()
    created.api_key.refresh_from_db()
    alice.refresh_from_db()
    assert created.api_key.revoked_at is None and alice.is_active
    assert ApiKey.objects.filter(pk=created.api_key.pk).exists()


@pytest.mark.django_db(transaction=True)  # autocommit: the write commits as it is made, as in a web request
def test_a_key_read_while_its_revocation_is_being_written_is_stale_once_it_is(alice):
    """Another request reads the key after the bump made before the write, but before the write: what it
    cached must be left behind by a bump after the write has committed."""
    from django.db.models.signals import pre_save

    created = api_key_create(owner=alice, name="ci")
    seen = []

    def concurrent_request(sender, instance, **kwargs):  # runs after apikeys' own pre_save receiver
        seen.append(api_key_authenticate(key=created.secret))

    pre_save.connect(concurrent_request, sender=ApiKey, dispatch_uid="test.concurrent_request")
    try:
        api_key_revoke(owner=alice, key_id=created.api_key.pk)
    finally:
        pre_save.disconnect(dispatch_uid="test.concurrent_request", sender=ApiKey)
    assert seen and seen[0] is not None  # it read the row as it was, and cached it
    assert api_key_authenticate(key=created.secret) is None


@pytest.mark.django_db
@pytest.mark.parametrize("planted", [b"not json", b'"a string"', b"[1, 2]"])
def test_a_generation_that_is_not_an_integer_is_replaced_and_revocation_still_works(alice, redis_caches, planted):
    """Whatever sits under the key generation in Redis (written by hand, an older format, tampering), a
    revocation must still bump it: INCR on it failed, and every revocation with it."""
    import redis

    created = api_key_create(owner=alice, name="ci")
    assert api_key_authenticate(key=created.secret) is not None
    from tigercity import cache as shared_cache

    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.set(shared_cache.shared().make_key(key_cache.GENERATION_KEY), planted, xx=True)
    finally:
        client.close()
    assert isinstance(key_cache.generation(), int)
    assert api_key_authenticate(key=created.secret) is not None  # cached again under the new generation
    api_key_revoke(owner=alice, key_id=created.api_key.pk)
    assert api_key_authenticate(key=created.secret) is None
