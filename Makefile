# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Embedded defaults for `make run`: SQLite, eager tasks, console SMS, demo data.
RUN_ENV := DEBUG=1 DATABASE_URL=sqlite:///db.sqlite3 CELERY_TASK_ALWAYS_EAGER=1 SMS_BACKEND=console \
	PUBLIC_BASE_URL=http://$(HOST):$(PORT)

.PHONY: run test lint format bench chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

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

test: $(VENV)/.installed-dev
	$(BIN)/python -m tests.preflight
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
