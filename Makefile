# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Embedded defaults for `make run`: SQLite, eager tasks, console SMS, demo data.
RUN_ENV := DEBUG=1 DATABASE_URL=sqlite:///db.sqlite3 CELERY_TASK_ALWAYS_EAGER=1 SMS_BACKEND=console \
	PUBLIC_BASE_URL=http://$(HOST):$(PORT) CACHE_BACKEND=locmem WEBHOOKS_ALLOW_PRIVATE=1

.PHONY: run run-env test test-django-next fuzz lint format lock bench bench-api bench-workers bench-card bench-webhooks bench-gunicorn bench-webhook-isolation bench-summary bench-profile bench-scale bench-wrk chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the lock files (exact versions with hashes, the same the Dockerfile uses);
# `make lock` writes them again from pyproject.toml after a deliberate dependency change.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-dev.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(VENV)/.installed $@

LOCK = $(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --no-header --quiet

lock: $(VENV)/.installed-dev
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev -o requirements-dev.lock

run: $(VENV)/.installed
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Textdesk is running at http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	@echo "  Sign in as 'agent' or 'manager', password 'demo12345'. Texts are printed here (console SMS)."
	@echo ""
	@# Celery beat's schedule runs in a background process (scheduled texts, workflow steps).
	$(RUN_ENV) $(BIN)/python manage.py run_periodic_tasks & trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The whole suite twice: production's configuration (PostgreSQL + Redis) and the embedded one
# `make run` uses (SQLite file, eager tasks). Both always run; either failing fails `make test`.
# `make run`'s environment, one NAME=value a line: the newcomer test (tests/browser/test_newcomer.py)
# starts the app with exactly this.
run-env:
	@printf '%s\n' $(RUN_ENV)

test: $(VENV)/.installed-dev
	$(BIN)/python -m tests.preflight
	@status=0; \
	for config in production embedded; do \
		echo "== make test: the $$config configuration =="; \
		TEXTDESK_TEST_CONFIG=$$config $(BIN)/python -m pytest $(PYTEST_ARGS) || status=1; \
	done; \
	exit $$status

# The same suite on the newest Django (6.1; it needs Python 3.12 or newer): a second venv with the
# dev lock's packages, hashes left out, and Django 6.1.x in place of the lock's 5.2 LTS.
# Django 6.1 needs Python 3.12+: pyenv's 3.12 (else 3.13, 3.14) if there is one (its shim alone refuses), else
# python3.12 on PATH; PYTHON_NEXT=/path/to/python3.12 (or newer) overrides both.
# django-prometheus (2.5.0) declares Django<6.1 in its metadata although the two middlewares used here
# work on 6.1 (tests/ops/test_metrics_exporters.py reads their series), so pip would refuse the set: the locked
# version goes in on its own with --no-deps, its prometheus-client coming from the lock like the rest.
PYTHON_NEXT ?= $(firstword $(foreach v,12 13 14,$(wildcard $(HOME)/.pyenv/versions/3.$(v)*/bin/python3.$(v))) python3.12)
VENV_NEXT := .venv61
NEXT_UNCAPPED := django-prometheus
$(VENV_NEXT)/.installed-dev: requirements-dev.lock
	@$(PYTHON_NEXT) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || { \
		echo "make test-django-next: Django 6.1 needs Python 3.12 or newer, and '$(PYTHON_NEXT)' is not one." >&2; \
		echo "  Install one (e.g. 'pyenv install 3.12', or Debian's python3.12 with its venv module)," >&2; \
		echo "  or name it: make test-django-next PYTHON_NEXT=/path/to/python3.12" >&2; \
		exit 1; }
	$(PYTHON_NEXT) -m venv $(VENV_NEXT)
	$(VENV_NEXT)/bin/python -m pip install --quiet --upgrade pip
	sed -e 's/ \\$$//' -e '/^ *--hash/d' -e '/^ *#/d' -e '/^django==/d' -e '/^$(NEXT_UNCAPPED)==/d' \
		requirements-dev.lock > $(VENV_NEXT)/requirements.txt
	$(VENV_NEXT)/bin/pip install --quiet -r $(VENV_NEXT)/requirements.txt "Django>=6.1,<6.2"
	$(VENV_NEXT)/bin/pip install --quiet --no-deps $$(grep -o '^$(NEXT_UNCAPPED)==[^ ]*' requirements-dev.lock)
	touch $@

test-django-next: $(VENV_NEXT)/.installed-dev
	$(VENV_NEXT)/bin/python -c "import django; print('== Django', django.get_version())"
	$(VENV_NEXT)/bin/python -m tests.preflight
	@status=0; \
	for config in production embedded; do \
		echo "== make test-django-next: the $$config configuration =="; \
		TEXTDESK_TEST_CONFIG=$$config $(VENV_NEXT)/bin/python -m pytest $(PYTEST_ARGS) || status=1; \
	done; \
	exit $$status

# The fuzz net with the manager trying every value on every page and API operation (about 21,000
# requests; `make test` samples about a third of that): README "Fuzz and contract nets".
fuzz: $(VENV)/.installed-dev
	FUZZ_NET_THOROUGH=1 $(BIN)/python -m pytest -s tests/security/test_fuzz_net.py

# What CI runs before the tests (.ci/run) and pre-commit before a commit (.pre-commit-config.yaml):
# lint, format, the import contracts (docs/ARCHITECTURE.md "Layers") and types (pyproject [tool.mypy]).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# --- benchmarks and fault injection (bench/README.md) -----------------------------------------
# Each prints its table and writes its section of bench/RESULTS.md. They use their own database
# (BENCH_DATABASE_URL, default textdesk_benchrun) and a private redis-server, only 127.0.0.1, and
# stop everything they started. `timeout` bounds each; BENCH_ARGS passes options (see --help).
BENCH_TIMEOUT ?= 1500
BENCH_SCALE_TIMEOUT ?= 7200
BENCH_RUN = timeout --signal=TERM --kill-after=30 $(BENCH_TIMEOUT) $(BIN)/python -m

# Ends with issue 19's four figures beside their targets (bench/summary.py; RESULTS.md "Summary").
bench: bench-api bench-workers bench-card bench-webhooks
	$(BENCH_RUN) bench.summary

bench-summary: $(VENV)/.installed-dev
	$(BENCH_RUN) bench.summary $(BENCH_ARGS)

bench-wrk:
	@command -v wrk >/dev/null || { echo "installing Debian's wrk"; apt-get update -qq && apt-get install -y -qq wrk; }

bench-api: $(VENV)/.installed-dev bench-wrk
	$(BENCH_RUN) bench.api $(BENCH_ARGS)

bench-workers: $(VENV)/.installed-dev
	$(BENCH_RUN) bench.workers $(BENCH_ARGS)

# Sends per second with a failing webhook endpoint attached against none, A/B interleaved (bench/webhook_isolation.py).
bench-webhook-isolation: $(VENV)/.installed-dev
	$(BENCH_RUN) bench.webhook_isolation $(BENCH_ARGS)

bench-card: $(VENV)/.installed-dev
	$(BENCH_RUN) bench.card $(BENCH_ARGS)

bench-webhooks: $(VENV)/.installed-dev bench-wrk
	$(BENCH_RUN) bench.webhooks $(BENCH_ARGS)

# gunicorn shapes (sync and gthread, several sizes) on the webhooks and the send API in one run; names the best.
bench-gunicorn: $(VENV)/.installed-dev bench-wrk
	$(BENCH_RUN) bench.gunicorn $(BENCH_ARGS)

bench-profile: $(VENV)/.installed-dev
	$(BENCH_RUN) bench.profile_api $(BENCH_ARGS)

# A large organization (10 M texts by default; built once with SQL and kept) against demo size, every page.
# Not part of `make bench`: building 10 M texts takes a while (bench/README.md "Scale").
bench-scale: $(VENV)/.installed-dev
	timeout --signal=TERM --kill-after=30 $(BENCH_SCALE_TIMEOUT) $(BIN)/python -m bench.scale $(BENCH_ARGS)

chaos: $(VENV)/.installed-dev
	$(BENCH_RUN) bench.chaos $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
