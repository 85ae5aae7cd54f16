# Chorus: `make run` starts it on the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The interpreter that makes the virtual environment: python3.11 where there is one (Chorus needs >= 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PORT ?= 8000
# The suite runs on real PostgreSQL and Redis (see README for starting them).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
# Separate names let several checkouts (or people) run the suite at once without sharing state.
TEST_DB_NAME ?= test_chorus
TEST_DATA_DIR ?= $(CURDIR)/var/test

.PHONY: run test install static lint bench

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

static/vendor/htmx.min.js: package.json package-lock.json scripts/build_static.sh
	./scripts/build_static.sh

static: static/vendor/htmx.min.js

run: install static
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	PORT=$(PORT) $(PY) manage.py serve

# STATIC_ROOT is made first: WhiteNoise warns in every test that makes a request when it is missing.
test: install static
	mkdir -p $(TEST_DATA_DIR)/staticfiles
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_DATABASE_NAME=$(TEST_DB_NAME) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	CELERY_QUEUE=chorus-test CHORUS_DATA_DIR=$(TEST_DATA_DIR) SECRET_KEY=tests-only-secret \
	CHORUS_SERVICE_HOSTS=127.0.0.1 CHORUS_TOKEN_RATE=10000/min \
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy labeling/engine
	$(PY) manage.py makemigrations --check --dry-run

bench: install
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) bench/label_model.py
