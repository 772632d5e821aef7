"""Project wiring: docker-compose commands, production settings (check --deploy), /healthz."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import get_commands
from django.urls import resolve
from gunicorn.config import Config as GunicornConfig

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = {name: svc for name, svc in COMPOSE["services"].items() if svc.get("build") == "."}


def test_compose_runs_web_worker_beat_and_migrate_from_the_app_image():
    assert set(APP_SERVICES) == {"migrate", "web", "worker", "beat"}
    assert {"postgres", "redis"} <= set(COMPOSE["services"])


def _check_python(command: list[str]) -> None:
    assert command[:2] == ["python", "manage.py"]
    assert (ROOT / "manage.py").is_file()
    assert command[2] in get_commands(), f"manage.py has no command {command[2]}"


def _check_gunicorn(command: list[str]) -> None:
    options = GunicornConfig().parser().parse_args(command[1:])  # exits on an unknown option
    module_name, _, attribute = options.args[0].partition(":")
    module = __import__(module_name, fromlist=[attribute])
    application = getattr(module, attribute or "application")
    assert isinstance(application, WSGIHandler)
    assert module_name + ".application" == settings.WSGI_APPLICATION


def _check_celery(command: list[str]) -> None:
    split = next(i for i, token in enumerate(command) if token in celery_cli.commands)
    group = celery_cli.make_context("celery", command[1:split])
    app = find_app(group.params["app"])
    assert app is celery_app
    group.obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    sub = celery_cli.commands[command[split]]
    parsed = sub.make_context(command[split], command[split + 1 :], parent=group)  # raises on a bad option
    assert not parsed.args


CHECKERS = {"python": _check_python, "gunicorn": _check_gunicorn, "celery": _check_celery}


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_each_service_command_points_at_real_modules(service):
    command = APP_SERVICES[service]["command"]

    CHECKERS[command[0]](command)


def test_worker_healthcheck_is_a_real_celery_command():
    test = APP_SERVICES["worker"]["healthcheck"]["test"]

    assert test[0] == "CMD"
    _check_celery(test[1:])


def test_web_healthcheck_asks_the_health_view():
    probe = " ".join(APP_SERVICES["web"]["healthcheck"]["test"])

    assert "http://127.0.0.1:8000/healthz" in probe
    assert resolve("/healthz").url_name == "healthz"


def test_compose_runs_the_app_in_production_mode():
    env = COMPOSE["x-app"]["environment"]

    assert (env["DEBUG"], env["CELERY_TASK_ALWAYS_EAGER"], env["SMS_BACKEND"]) == ("0", "0", "twilio")
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["DATABASE_URL"].startswith("postgres://")


# --- production settings ------------------------------------------------------------------


def _production_env(**extra: str) -> dict[str, str]:
    """What a deployer puts in .env, plus the compose file's own environment for the app."""
    compose_env = {k: str(v) for k, v in COMPOSE["x-app"]["environment"].items()}
    compose_env["DATABASE_URL"] = "postgres://textdesk:secret@127.0.0.1:5432/textdesk"
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **compose_env,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "textdesk.example.com",
        "PUBLIC_BASE_URL": "https://textdesk.example.com",
        **extra,
    }


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_a_weak_secret_key():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env(SECRET_KEY="short"))

    assert result.returncode != 0
    assert "security.W009" in result.stderr


_PRINT_SECURITY = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ('DEBUG', 'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', "
    "'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS')}))"
)


def _security_settings(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_SECURITY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_https_production_redirects_and_secures_cookies_by_default():
    assert _security_settings(_production_env()) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
    }


def test_make_run_settings_stay_plain_http():
    # The environment `make run` sets (Makefile RUN_ENV): DEBUG over http on 127.0.0.1.
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": "sqlite:///db.sqlite3",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "SMS_BACKEND": "console",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }

    assert _security_settings(env) == {
        "DEBUG": True,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
    }


# --- /healthz -----------------------------------------------------------------------------


def test_healthz_answers_ok_with_eager_tasks(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reaches_the_real_broker_when_tasks_are_queued(client, db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL

    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.allow_server_errors  # the 503 is the point: Django logs every 5xx
def test_healthz_names_an_unreachable_broker_with_503(client, db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("unavailable", "ok")
    assert "127.0.0.1:1" in body["broker"]


def test_healthz_answers_the_container_probe_under_production_host_and_https_rules(client, db, settings):
    settings.ALLOWED_HOSTS = ["textdesk.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    probe = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")

    assert probe.status_code == 200
    assert client.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.get("/", HTTP_HOST="textdesk.example.com").status_code == 301
    assert client.head("/healthz").status_code == 200
