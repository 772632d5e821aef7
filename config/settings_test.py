"""Test overrides: real PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``), locmem SMS."""

from __future__ import annotations

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/textdesk")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from .settings import *  # noqa: F403
from .settings import STORAGES

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
