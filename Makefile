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

test: install
	$(BIN)/python -m pytest

demo-weights: install
	$(BIN)/python -m inference.engine.demo.build

clean:
	rm -rf $(VENV) var
