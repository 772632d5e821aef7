"""SMS backends, shaped like Django's email backends and chosen by ``SMS_BACKEND``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from .base import (
    MEDIA_REJECTED,
    UNREACHABLE_REASONS,
    BaseSmsBackend,
    LineTypeLookupFailed,
    LineTypeResult,
    LineTypeUnsupported,
    LookupUnsupported,
    MediaFetchFailed,
    ProviderError,
    SendError,
    SendResult,
)

BACKENDS = {
    "console": "messaging.backends.console.ConsoleBackend",
    "locmem": "messaging.backends.locmem.LocmemBackend",
    "twilio": "messaging.backends.twilio.TwilioBackend",
}


def get_backend(name: str | None = None, **kwargs: Any) -> BaseSmsBackend:
    """The configured backend: a short name from ``BACKENDS`` or a dotted path."""
    name = name or settings.SMS_BACKEND
    return import_string(BACKENDS.get(name, name))(**kwargs)


def backend_is_paid(name: str | None = None) -> bool:
    """Whether the configured backend (or ``name``) sends and looks up through a billed provider."""
    name = name or settings.SMS_BACKEND
    return bool(getattr(import_string(BACKENDS.get(name, name)), "paid", True))


def describe_provider_error(code: str) -> ProviderError:
    """What an error code stored on a text means (provider-neutral ``reason``, a sentence for people).

    The codes come from the one real provider, so its backend module reads them; nothing above
    the backends knows a provider code.
    """
    from .twilio import describe_error

    return describe_error(code)


def provider_media_fetch(url: str) -> tuple[bytes, str]:
    """A received picture's bytes and declared type, from the provider's ``MediaUrl`` (``MediaFetchFailed``)."""
    from .twilio import media_fetch

    return media_fetch(url)


def provider_media_delete(url: str) -> None:
    """Delete a received picture at the provider once it is stored here (``MediaFetchFailed`` on failure)."""
    from .twilio import media_delete

    media_delete(url)


__all__ = [
    "MEDIA_REJECTED",
    "UNREACHABLE_REASONS",
    "BaseSmsBackend",
    "LineTypeLookupFailed",
    "LineTypeResult",
    "LineTypeUnsupported",
    "LookupUnsupported",
    "MediaFetchFailed",
    "ProviderError",
    "SendError",
    "SendResult",
    "backend_is_paid",
    "describe_provider_error",
    "get_backend",
    "provider_media_delete",
    "provider_media_fetch",
]
