# TigerCity: `make run` serves on port 45678, `make test` runs the whole test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= $(or $(TIGER_PORT),45678)
BIND ?= $(or $(TIGER_BIND),127.0.0.1)
# uvicorn: no ASGI lifespan (Django has none), no access log, client addresses as connected (behind a
# reverse proxy add --proxy-headers --forwarded-allow-ips=PROXY), open streams get 10 s at Ctrl-C.
# tests/live_server.py serves with the same flags.
SERVER_FLAGS := --lifespan off --no-access-log --no-proxy-headers --timeout-graceful-shutdown 10

.PHONY: install run test test-fast demo-weights bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench,ray,tracking]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	@echo
	@echo "  TigerCity is starting: open http://localhost:$(PORT)/ to sign up or sign in."
	@echo
	$(BIN)/python -m uvicorn $(SERVER_FLAGS) --host $(BIND) --port $(PORT) tigercity.asgi:application

# `make test` runs the suite on SQLite, then its Django part again on PostgreSQL (tools/run_tests.py).
# The PostgreSQL and Redis servers are those at TIGER_TEST_POSTGRES_URL and TIGER_TEST_REDIS_URL
# (localhost's by default, as on CI); where none answers, it starts throwaway ones from pip packages
# for the run and says so. Extra pytest arguments: make test ARGS="-k models".
test: install
	$(BIN)/python -m tools.run_tests $(ARGS)

# Benchmarks (not tests): each prints its tables and writes bench/out/*.json; about 20 minutes in all.
bench: install
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/train_cost.py
	$(BIN)/python bench/learning.py

demo-weights: install
	$(BIN)/python -m tools.demo_weights.build

clean:
	rm -rf $(VENV) var
