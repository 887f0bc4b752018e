# MallCRM — the commands. `make dev` runs the whole system locally; `make test` passes the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/runtime.txt requirements/dev.txt | sha1sum | cut -c1-12)
PORT ?= 3000
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv dev dev-empty test test-fast lint typecheck cfn-lint bench build openapi events deploy-localstack test-localstack clean

help:
	@echo "make dev         run the whole system locally on http://127.0.0.1:$(PORT) (demo data; make dev-empty for none)"
	@echo "make test        every suite that needs no Docker and no AWS account (lint, types, unit, integration, contract, infra, local)"
	@echo "make bench       benchmarks (cold imports, runner overhead, AWS calls per operation)"
	@echo "make build       sam build: deployable artifacts for Lambda (arm64)"
	@echo "make deploy-localstack / test-localstack   the opt-in LocalStack tier (needs Docker)"

# The environment is rebuilt whenever the pinned requirements change.
$(STAMP): requirements/runtime.txt requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

dev: venv
	$(PY) -m infra.localcloud serve --port $(PORT)

dev-empty: venv
	$(PY) -m infra.localcloud serve --port $(PORT) --empty

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services infra bench
	$(VENV)/bin/pytest -n 2 -q tests

test-fast: venv
	$(VENV)/bin/pytest -n 2 -q tests -m "not slow"

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy shared services infra bench

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml

bench: venv
	$(PY) -m bench

openapi: venv
	$(PY) -m infra.apidocs.generate

events: venv
	$(PY) -m shared.events.catalogue

clean:
	rm -rf .aws-sam build .pytest_cache .ruff_cache .mypy_cache
