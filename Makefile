# MallCRM — the commands. `make dev` runs the whole system locally; `make test` passes the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/runtime.txt requirements/dev.txt | sha1sum | cut -c1-12)
PORT ?= 3000
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv dev dev-empty test test-fast lint typecheck cfn-lint bench build sam-venv openapi events deploy-localstack test-localstack clean

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
	$(VENV)/bin/mypy shared services infra bench tests
	$(VENV)/bin/pytest -n 2 -q tests

test-fast: venv
	$(VENV)/bin/pytest -n 2 -q tests -m "not slow"

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy shared services infra bench tests

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml

bench: venv
	$(PY) -m bench

openapi: venv
	$(PY) -m infra.apidocs.generate

events: venv
	$(PY) -m shared.events.catalogue

# --- sam build: aws-sam-cli in its own venv (it pins its own aws-sam-translator and pydantic) ---
# The makefiles SAM runs (infra/layer, services/*, infra/apidocs) take their paths from their own
# location: SAM runs each in a scratch copy of its CodeUri. No --cached: SAM's cache key hashes only
# the CodeUri folder, and the layer and services pull files from outside it (shared/, requirements/).
SAM_CLI_VERSION := 1.170.0
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-sam-$(SAM_CLI_VERSION)
# A CPython 3.12 (Lambda's) to precompile the layer, if the machine has one (on PATH, or the newest
# 3.12 that pyenv knows); without it the layer ships sources only. Override: make build LAYER_PYC_PYTHON=...
LAYER_PYC_PYTHON ?= $(shell { python3.12 -c 'import sys; print(sys.executable)' || \
	PYENV_VERSION=$$(pyenv versions --bare | grep '^3\.12' | tail -1) python3.12 -c 'import sys; print(sys.executable)'; \
	} 2>/dev/null)
# SAM runs without the repo on PYTHONPATH (its imports must not see our shared/ or tests/) and
# without telemetry; the layer's pip runs from .venv-sam.
SAM_ENV = env -u PYTHONPATH SAM_CLI_TELEMETRY=0 LAYER_PYTHON=$(CURDIR)/$(SAM_VENV)/bin/python \
	LAYER_PYC_PYTHON=$(LAYER_PYC_PYTHON)

$(SAM_STAMP):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	@rm -f $(SAM_VENV)/.installed-*; touch $@

sam-venv: $(SAM_STAMP)

build: sam-venv venv
	$(SAM_ENV) $(SAM) build --template template.yaml --build-dir .aws-sam/build --parallel
	MALLCRM_CHECK_BUILD=1 $(VENV)/bin/pytest -q tests/infra/test_build_artifacts.py -k sam_build_output

# --- the opt-in LocalStack tier (needs Docker; see infra/localstack/README.md) ---
# LocalStack's free image applies no Lambda layers and runs Lambda in the host's CPU architecture
# (LAMBDA_IGNORE_ARCHITECTURE=1 in the compose file), so the LocalStack build takes the layer's
# wheels for the host CPU and folds the layer into every function before `sam deploy`.
LOCALSTACK_ENDPOINT ?= http://localhost:4566
LOCALSTACK_STACK ?= mallcrm-dev
LOCALSTACK_BUILD := .aws-sam/localstack
LOCALSTACK_LAYER_PLATFORM := $(if $(filter aarch64 arm64,$(shell uname -m)),manylinux2014_aarch64,manylinux2014_x86_64)
LOCALSTACK_ENV := env -u PYTHONPATH -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN \
	AWS_ENDPOINT_URL=$(LOCALSTACK_ENDPOINT) AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
	AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SAM_CLI_TELEMETRY=0

deploy-localstack: sam-venv venv
	$(PY) -m infra.localstack.prepare check --endpoint $(LOCALSTACK_ENDPOINT)
	$(SAM_ENV) LAYER_PLATFORM=$(LOCALSTACK_LAYER_PLATFORM) $(SAM) build --template template.yaml \
		--build-dir $(LOCALSTACK_BUILD) --parallel
	$(PY) -m infra.localstack.prepare flatten --build-dir $(LOCALSTACK_BUILD)
	$(LOCALSTACK_ENV) $(SAM) deploy --template-file $(LOCALSTACK_BUILD)/template.localstack.json \
		--stack-name $(LOCALSTACK_STACK) --resolve-s3 --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
		--parameter-overrides Stage=dev --no-confirm-changeset --no-fail-on-empty-changeset

test-localstack: venv
	LOCALSTACK_ENDPOINT=$(LOCALSTACK_ENDPOINT) LOCALSTACK_STACK=$(LOCALSTACK_STACK) \
		$(VENV)/bin/pytest -q -m localstack tests/localstack

clean:
	rm -rf .aws-sam build .pytest_cache .ruff_cache .mypy_cache
