"""Production refuses to start wrong: each deploy check fails on the unsafe value and passes when set."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import ERROR

from ops import checks
from tests.deploy_env import check_database_url

ROOT = Path(__file__).resolve().parents[2]


def _ids(messages) -> list[str]:
    return [m.id for m in messages]


@pytest.mark.parametrize("key", ["insecure-development-key-set-SECRET_KEY-in-production", "django-insecure-abc"])
def test_the_development_secret_key_fails_the_deploy_check(settings, key):
    settings.SECRET_KEY = key

    assert _ids(checks.check_secret_key()) == ["textdesk.E001"]


def test_a_random_secret_key_passes_the_deploy_check(settings):
    settings.SECRET_KEY = secrets.token_urlsafe(50)

    assert checks.check_secret_key() == []
    assert checks.check_secret_key_strength() == []


@pytest.mark.parametrize(
    "key",
    ["changeme", "x" * 60, "abcd" * 20, secrets.token_urlsafe(30)],
    ids=["short", "one character", "four characters", "49 characters or fewer"],
)
def test_a_weak_secret_key_fails_the_deploy_check_as_an_error(settings, key):
    # Django's own security.W009 measure (length < 50, < 5 different characters), but an error here.
    settings.SECRET_KEY = key

    [error] = checks.check_secret_key_strength()
    assert error.id == "textdesk.E006" and error.level == ERROR
    assert checks.check_secret_key() == []  # not the development key: E001 says nothing


def test_the_development_key_is_named_once_by_e001(settings):
    settings.SECRET_KEY = "django-insecure-" + secrets.token_urlsafe(50)

    assert _ids(checks.check_secret_key()) == ["textdesk.E001"]
    assert checks.check_secret_key_strength() == []


def test_a_weak_fallback_key_fails_the_deploy_check(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = secrets.token_urlsafe(50), ["old-key"]

    [error] = checks.check_secret_key_strength()
    assert error.id == "textdesk.E006" and "SECRET_KEY_FALLBACKS" in error.msg


def test_private_webhook_destinations_are_refused_in_production(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE, settings.DEBUG = True, False
    assert _ids(checks.check_webhooks_allow_private()) == ["textdesk.E007"]
    settings.DEBUG = True  # make run
    assert checks.check_webhooks_allow_private() == []
    settings.WEBHOOKS_ALLOW_PRIVATE, settings.DEBUG = False, False
    assert checks.check_webhooks_allow_private() == []


def test_make_runs_settings_and_the_test_settings_still_start(settings):
    # make run: DEBUG=1 with the development key and private webhooks: a development start is never refused.
    settings.DEBUG, settings.WEBHOOKS_ALLOW_PRIVATE = True, True
    settings.SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"
    checks.refuse_unsafe_start()


@pytest.mark.parametrize(
    "url",
    [
        "http://texts.example.com",
        "http://127.0.0.1:8000",
        "https://127.0.0.1",
        "https://localhost:8443",
        "https://[::1]",
        "https://0.0.0.0",
        "",
    ],
)
def test_a_plain_http_or_loopback_public_base_url_fails_the_deploy_check(settings, url):
    settings.PUBLIC_BASE_URL = url

    assert _ids(checks.check_public_base_url()) == ["textdesk.E002"]


def test_an_https_public_address_passes_the_deploy_check(settings):
    settings.PUBLIC_BASE_URL = "https://texts.example.com"

    assert checks.check_public_base_url() == []


def test_eager_tasks_without_debug_fail_the_deploy_check(settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.DEBUG = True, False

    assert _ids(checks.check_eager_tasks()) == ["textdesk.E003"]


def test_texting_at_any_hour_is_refused_in_production(settings):
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS, settings.DEBUG = True, False
    assert _ids(checks.check_texting_law_windows()) == ["textdesk.E005"]
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = False
    assert checks.check_texting_law_windows() == []


def test_queued_tasks_pass_the_deploy_check(settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.DEBUG = False, False

    assert checks.check_eager_tasks() == []


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_twilio_sending_without_credentials_fails_the_deploy_check(settings, missing):
    settings.SMS_BACKEND = "twilio"
    setattr(settings, missing, "")

    [error] = checks.check_twilio_credentials()
    assert error.id == "textdesk.E004" and missing in error.msg


def test_twilio_sending_with_credentials_passes_the_deploy_check(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "1" * 32, "token"

    assert checks.check_twilio_credentials() == []


# --- the real commands --------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    """An operator's environment that sets nothing but DEBUG=0 and Twilio as the backend."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "REDIS_URL")}
    return {
        **keep,
        "DATABASE_URL": check_database_url(),  # a server that answers: tests/deploy_env.py
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SMS_BACKEND": "twilio",
        **extra,
    }


def test_check_deploy_fails_on_each_unsafe_default():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=_env(CELERY_TASK_ALWAYS_EAGER="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    for check_id in ("textdesk.E001", "textdesk.E002", "textdesk.E003", "textdesk.E004"):
        assert check_id in result.stderr, result.stderr


# As found by the audit: SECRET_KEY=changeme and WEBHOOKS_ALLOW_PRIVATE=1 passed with a warning only.
WEAK_KEY_AND_PRIVATE_WEBHOOKS = {
    "SECRET_KEY": "changeme",
    "WEBHOOKS_ALLOW_PRIVATE": "1",
    "PUBLIC_BASE_URL": "https://texts.example.com",
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "t",
}


def test_check_deploy_fails_on_a_weak_secret_key_and_private_webhooks():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=_env(**WEAK_KEY_AND_PRIVATE_WEBHOOKS),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert result.returncode != 0
    assert "textdesk.E006" in result.stderr and "textdesk.E007" in result.stderr, result.stderr


def test_gunicorn_refuses_to_start_with_a_weak_key_or_private_webhooks():
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", "127.0.0.1:0",
         "config.wsgi:application"],
        cwd=ROOT,
        env=_env(**WEAK_KEY_AND_PRIVATE_WEBHOOKS),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Refusing to start with DEBUG=0" in output
    assert "textdesk.E006" in output and "textdesk.E007" in output


def test_gunicorn_refuses_to_start_on_the_development_secret_key():
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", "127.0.0.1:0",
         "config.wsgi:application"],
        cwd=ROOT,
        env=_env(PUBLIC_BASE_URL="https://texts.example.com", TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="t"),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert result.returncode != 0
    assert "Refusing to start with DEBUG=0" in result.stdout + result.stderr
    assert "textdesk.E001" in result.stdout + result.stderr


def test_a_worker_refuses_to_start_with_an_http_public_base_url():
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=_env(SECRET_KEY=secrets.token_urlsafe(50), PUBLIC_BASE_URL="http://texts.example.com",
                 TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="t"),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert result.returncode != 0
    assert "textdesk.E002" in result.stdout + result.stderr


def test_trusted_proxy_headers_are_ignored_unless_set():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_PROXY_SSL_HEADER, s.REST_FRAMEWORK['NUM_PROXIES']]))"
    )

    def read(**extra: str):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=_env(**extra), capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert read() == "[null, 0]"
    assert read(TRUSTED_PROXY="1") == '[["HTTP_X_FORWARDED_PROTO", "https"], 1]'


def test_refusing_to_start_runs_every_textdesk_check_and_only_those():
    # refuse_unsafe_start calls DEPLOY_CHECKS directly (not the whole registry): a new check must be listed.
    from django.core.checks.registry import registry

    ours = {check for check in registry.get_checks(include_deployment_checks=True) if check.__module__ == "ops.checks"}
    assert ours == set(checks.DEPLOY_CHECKS)
