"""Test overrides, for the two configurations ``make test`` runs (docs in README "Tests").

``TEXTDESK_TEST_CONFIG=production`` (the default): real PostgreSQL and Redis (``DATABASE_URL``,
``REDIS_URL``). ``TEXTDESK_TEST_CONFIG=embedded``: what ``make run`` uses, a SQLite file database
and eager tasks, so the configuration a newcomer meets first is tested too. Both use the locmem
SMS backend, so tests can read what was sent.
"""

from __future__ import annotations

import os
from pathlib import Path

TEST_CONFIG = os.environ.get("TEXTDESK_TEST_CONFIG", "production")
if TEST_CONFIG not in {"production", "embedded"}:
    raise RuntimeError(f"TEXTDESK_TEST_CONFIG must be 'production' or 'embedded', not {TEST_CONFIG!r}")
EMBEDDED = TEST_CONFIG == "embedded"

if EMBEDDED:
    os.environ["DATABASE_URL"] = f"sqlite:///{Path(__file__).resolve().parent.parent / 'db.sqlite3'}"
else:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/textdesk")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from .settings import *  # noqa: E402, F403
from .settings import BASE_DIR, DATABASE_ROUTERS, DATABASES, LOGGING, STORAGES  # noqa: E402

if EMBEDDED:
    # A file, not SQLite's in-memory default: the browser tests' live server answers from another
    # thread, as ``make run`` answers from other processes. Named per process so two runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-embedded-{os.getpid()}.sqlite3")}

DEBUG = False
SMS_BACKEND = "locmem"
CELERY_TASK_ALWAYS_EAGER = True
PUBLIC_BASE_URL = "https://textdesk.test"
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP, whatever PUBLIC_BASE_URL the shell exports
SECURE_HSTS_SECONDS = 0
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "test-auth-token"
WEBHOOKS_ALLOW_PRIVATE = True  # the tests' webhook receiver listens on 127.0.0.1 over http

# --- the test process itself ----------------------------------------------------------------
# One process: the cache stays in memory (tests that need the shared Redis cache set it), and no
# connection pool (the worker and production-topology tests run the pooled production settings
# in their own processes).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
# One database in the test process, whatever the shell exports: tests/test_replica.py starts a real
# streaming replica and a server of its own configured with it.
DATABASES.pop("replica", None)
DATABASE_ROUTERS.clear()
LOG_FORMAT = "plain"
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
