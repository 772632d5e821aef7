"""Deploy checks: ``manage.py check --deploy`` fails, and gunicorn, a worker or beat with
``DEBUG=0`` refuse to start, on settings that would hurt real people or leak.

- ``textdesk.E001`` the public development ``SECRET_KEY`` (or none);
- ``textdesk.E002`` a ``PUBLIC_BASE_URL`` that is not https or points at this machine: it is
  in every unsubscribe link texted to people and is what Twilio signs webhooks against;
- ``textdesk.E003`` eager Celery tasks with ``DEBUG=0``: sends would run inside web requests;
- ``textdesk.E004`` ``SMS_BACKEND=twilio`` without ``TWILIO_ACCOUNT_SID``/``TWILIO_AUTH_TOKEN``:
  every send would fail and every webhook be refused;
- ``textdesk.E005`` ``TEXTING_LAW_WINDOWS_OFF_FOR_TESTS`` with ``DEBUG=0``: people would be texted
  at hours the law forbids.

A deployment that means it (a loopback benchmark) lists the id in ``SILENCED_SYSTEM_CHECKS``.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

_DEVELOPMENT_KEY_PREFIXES = ("insecure-", "django-insecure-")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "0.0.0.0"}


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    key = settings.SECRET_KEY or ""
    if not key or key.startswith(_DEVELOPMENT_KEY_PREFIXES):
        return [
            checks.Error(
                "SECRET_KEY is the public development key (or empty): sessions, password resets and "
                "unsubscribe tokens could be forged.",
                hint="Set SECRET_KEY to a long random value, e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'.",
                id="textdesk.E001",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_public_base_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    url = settings.PUBLIC_BASE_URL or ""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname and not _is_loopback(parts.hostname):
        return []
    return [
        checks.Error(
            f"PUBLIC_BASE_URL is {url!r}: it must be the https address people reach, because it is in "
            "the unsubscribe link of every text and Twilio signs its webhooks against it.",
            hint="Set PUBLIC_BASE_URL=https://texts.example.com (no loopback address, no plain http).",
            id="textdesk.E002",
        )
    ]


@checks.register(deploy=True)
def check_eager_tasks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.DEBUG:
        return [
            checks.Error(
                "CELERY_TASK_ALWAYS_EAGER is on with DEBUG=0: every text would be sent inside the web "
                "request that queued it, and a slow provider would hold the page.",
                hint="Unset CELERY_TASK_ALWAYS_EAGER (it is off by default) and run a worker and beat.",
                id="textdesk.E003",
            )
        ]
    return []


@checks.register(deploy=True)
def check_twilio_credentials(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SMS_BACKEND != "twilio":
        return []
    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not getattr(settings, name, "")]
    if not missing:
        return []
    return [
        checks.Error(
            f"SMS_BACKEND=twilio without {' and '.join(missing)}: every send would fail and every Twilio "
            "webhook would be refused.",
            hint="Set both from the Twilio console (Account Info).",
            id="textdesk.E004",
        )
    ]


@checks.register(deploy=True)
def check_texting_law_windows(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS and not settings.DEBUG:
        return [
            checks.Error(
                "TEXTING_LAW_WINDOWS_OFF_FOR_TESTS is on with DEBUG=0: texts would go out at hours federal and "
                "state law forbid (messaging/compliance/jurisdictions.py).",
                hint="Unset it; it exists for the test suite and benchmarks only.",
                id="textdesk.E005",
            )
        ]
    return []


# Every check above, for ``refuse_unsafe_start`` (tests/ops/test_checks.py keeps the list complete).
DEPLOY_CHECKS = (
    check_secret_key,
    check_public_base_url,
    check_eager_tasks,
    check_twilio_credentials,
    check_texting_law_windows,
)


def refuse_unsafe_start() -> None:
    """Raise ``ImproperlyConfigured`` naming each of the checks above that fails, unless ``DEBUG`` is on.

    Called when gunicorn (config/gunicorn.conf.py), a Celery worker or beat starts: a production
    process never runs on a setting ``check --deploy`` refuses.
    """
    if settings.DEBUG:
        return
    # Ours only: Django's own deploy checks are advice (warnings), or about the environment a
    # test harness sets (async.E001), and stay with `check --deploy`. Called directly, not through
    # the registry: running every registered check (the URLconf, the models, the API schema) cost
    # each worker and gunicorn process most of a CPU-second at start for nothing this function uses.
    errors = [
        message
        for check in DEPLOY_CHECKS
        for message in check()
        if message.level >= checks.ERROR and (message.id or "").startswith("textdesk.") and not message.is_silenced()
    ]
    if errors:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG=0:\n" + "\n".join(f"  {m.id}: {m.msg} ({m.hint})" for m in errors)
        )
