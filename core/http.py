"""What the project's middleware adds to a request, for type checkers and readers.

Django's ``HttpRequest`` knows nothing of django-htmx's ``request.htmx`` or of our
``request.request_id`` (``core.tracing.RequestIdMiddleware``), and its ``user`` may be anonymous.
Views behind ``login_required`` take an ``AuthenticatedRequest``; nothing here changes a request
at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
