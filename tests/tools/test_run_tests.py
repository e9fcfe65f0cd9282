"""make test's stand-in servers: a throwaway server answers at the URL it gives, and is gone afterwards."""
import pytest

from tools.run_tests import postgres_reachable, redis_reachable, services, throwaway_postgres, throwaway_redis

NOBODY = "redis://127.0.0.1:1/0"  # port 1: nothing listens there


def test_a_throwaway_redis_answers_at_its_url_and_is_gone_afterwards():
    assert not redis_reachable(NOBODY)
    with throwaway_redis() as url:
        assert redis_reachable(url)
    assert not redis_reachable(url)


def test_a_configured_server_that_answers_is_used_as_it_is(monkeypatch):
    monkeypatch.setattr("tools.run_tests.postgres_reachable", lambda url: True)
    with throwaway_redis() as running:
        with services("postgres://configured", running) as urls:
            assert urls == ("postgres://configured", running)


@pytest.mark.slow
def test_a_throwaway_postgres_answers_at_its_url_and_is_gone_afterwards():
    with throwaway_postgres() as url:
        assert postgres_reachable(url)
    assert not postgres_reachable(url)
