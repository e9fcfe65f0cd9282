# TigerCity: `make run` serves on port 45678, `make test` runs the whole test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= $(or $(TIGER_PORT),45678)
BIND ?= $(or $(TIGER_BIND),127.0.0.1)

.PHONY: install run test test-fast demo-weights bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	@echo
	@echo "  TigerCity is starting: open http://localhost:$(PORT)/ to sign up or sign in."
	@echo
	$(BIN)/daphne -b $(BIND) -p $(PORT) tigercity.asgi:application

# `make test` runs the suite on SQLite, then the Django side again on PostgreSQL (pytest-django creates
# test_<name>; the process id keeps concurrent runs apart; the last line drops it if a connection left
# open by a worker thread made pytest-django's own drop fail); it fails if either pass fails.
# Browser, slow (live-server) and scale-out tests run once: they bring their own databases. It needs
# the PostgreSQL and Redis servers that CI has (TIGER_TEST_POSTGRES_URL, TIGER_TEST_REDIS_URL say where):
# under `make test` the tests that use them fail when they are missing; a bare `pytest` skips them.
TIGER_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432
export TIGER_TEST_POSTGRES_URL
test: install
	status=0; \
	TIGER_REQUIRE_SERVICES=1 $(BIN)/python -m pytest || status=1; \
	DATABASE_URL=$(TIGER_TEST_POSTGRES_URL)/tigercity_$$$$ TIGER_REQUIRE_SERVICES=1 $(BIN)/python -m pytest tests \
		--ignore=tests/inference/engine --ignore=tests/workers -m "not browser and not slow" -p no:cacheprovider || status=1; \
	$(BIN)/python -c 'import sys, psycopg; psycopg.connect(sys.argv[1] + "/postgres", autocommit=True).execute( \
		"DROP DATABASE IF EXISTS test_tigercity_" + sys.argv[2] + " WITH (FORCE)")' $(TIGER_TEST_POSTGRES_URL) $$$$; \
	exit $$status

# Benchmarks (not tests): each prints its tables and writes bench/out/*.json; about 20 minutes in all.
bench: install
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/train_cost.py
	$(BIN)/python bench/learning.py

demo-weights: install
	$(BIN)/python -m tools.demo_weights.build

clean:
	rm -rf $(VENV) var
