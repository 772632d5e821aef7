"""What a request carries: what the project's middleware adds to it (for type checkers and readers), and
where it came from (``request_evidence``).

Django's ``HttpRequest`` knows nothing of django-htmx's ``request.htmx`` or of our
``request.request_id`` (``core.tracing.RequestIdMiddleware``), and its ``user`` may be anonymous.
Views behind ``login_required`` take an ``AuthenticatedRequest``; nothing here changes a request
at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails


class TextdeskRequest(HttpRequest):
    """Any request that went through the middleware stack (``config.settings.MIDDLEWARE``)."""

    htmx: HtmxDetails
    request_id: str


class AuthenticatedRequest(TextdeskRequest):
    """A request of a signed-in user (views behind ``login_required``)."""

    user: User


class RequestEvidence(TypedDict):
    ip_address: str | None
    user_agent: str


def request_evidence(request: HttpRequest) -> RequestEvidence:
    """The client's address and browser, as the consent ledger keeps them with an agent's or a person's act.

    Pass it on as keywords: ``consent_revoke(..., **request_evidence(request))``.
    """
    return {"ip_address": request.META.get("REMOTE_ADDR") or None, "user_agent": request.headers.get("user-agent", "")}
