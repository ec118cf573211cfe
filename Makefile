# Guildtrust: `make run` serves the demo trust on the embedded default; `make federation` serves
# two demo trusts (sag-aftra on PORT, equity-uk on PORT+1), peered, with a federated lease active;
# `make test` runs the whole suite against real PostgreSQL, Redis, an S3 server and a Celery
# worker, then again on the embedded default.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/guildtrust
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# The real-stack suite runs on this many pytest-xdist workers (a file's tests stay together),
# each with its own test database, Redis database, S3 server and Celery worker.
TEST_WORKERS ?= 2
# Outside the embedded default the app needs a strong SECRET_KEY and a TRUST_SIGNING_KEY: the
# real-stack runs get new ones each time (unless SECRET_KEY is set), and plain HTTP (HTTPS=off),
# as the test client and the browser tests' live server speak HTTP; tests/deploy/ proves the
# HTTPS defaults apart.
ifndef SECRET_KEY
SECRET_KEY := $(shell $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')
endif
export SECRET_KEY
TEST_SIGNING_KEY := $(shell od -An -tx1 -N32 /dev/urandom | tr -d " \n")
REAL_STACK := DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) TRUST_SIGNING_KEY=$(TEST_SIGNING_KEY) HTTPS=off
# The embedded default keeps its own keys in var/secret_key and var/signing_key.
EMBEDDED := env -u DATABASE_URL -u REDIS_URL -u S3_BUCKET -u S3_ENDPOINT_URL -u SECRET_KEY -u HTTPS

.PHONY: install run federation test test-durations audit bench lint fmt worker services browser clean

AS_ROOT = $(if $(filter 0,$(shell id -u)),,sudo)

$(VENV)/.installed: pyproject.toml
	@# A bare Debian may have python3 without its venv module (package python3-venv).
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(AS_ROOT) apt-get update -qq && \
	  $(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(EMBEDDED) $(BIN)/python manage.py migrate --noinput -v 0
	$(EMBEDDED) $(BIN)/python manage.py seed_demo
	$(EMBEDDED) PORT=$(PORT) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# deploy/federation.py makes each trust's environment itself (the embedded default, under
# var/<slug>/), migrates, seeds and peers both, and stops both servers on Ctrl-C.
federation: install
	$(BIN)/python deploy/federation.py --port $(PORT)

services:
	bash deploy/ensure-postgres.sh
	bash deploy/ensure-redis.sh

browser:
	bash deploy/ensure-browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pip-audit over the installed virtualenv and bandit over the code (deploy/audit.py says what
# happens when PyPI's vulnerability service cannot be reached).
audit: install
	$(BIN)/python deploy/audit.py

# Whole files to workers, longest first (tests/file_order.py), not xdist's most-tests-first.
REAL_STACK_SUITE := $(REAL_STACK) $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	-m "not embedded and not benchmark"

test: lint audit services browser
	$(BIN)/python manage.py makemigrations --check --dry-run -v 0
	$(REAL_STACK_SUITE) --durations=25
	$(EMBEDDED) $(BIN)/pytest -m embedded

# The real-stack suite once, recording each file's seconds in tests/file_seconds.json (commit it).
test-durations: install services browser
	$(REAL_STACK_SUITE) --write-file-seconds

bench: install services
	bash deploy/ensure-bench.sh
	$(REAL_STACK) $(BIN)/pytest tests/benchmarks -m benchmark -s -q -p no:randomly

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: install services
	$(REAL_STACK) bash deploy/worker.sh

clean:
	rm -rf var .pytest_cache tests/artifacts
