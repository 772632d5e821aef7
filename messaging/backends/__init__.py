"""SMS backends, shaped like Django's email backends and chosen by ``SMS_BACKEND``."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import BaseSmsBackend, LookupUnsupported, SendError, SendResult

BACKENDS = {
    "console": "messaging.backends.console.ConsoleBackend",
    "locmem": "messaging.backends.locmem.LocmemBackend",
    "twilio": "messaging.backends.twilio.TwilioBackend",
}


def get_backend(name: str | None = None, **kwargs) -> BaseSmsBackend:
    """The configured backend: a short name from ``BACKENDS`` or a dotted path."""
    name = name or settings.SMS_BACKEND
    return import_string(BACKENDS.get(name, name))(**kwargs)


__all__ = ["BaseSmsBackend", "LookupUnsupported", "SendError", "SendResult", "get_backend"]
