"""Demo-only: make a person answer on ``make run`` (the panel's "Simulate a reply", ``DEBUG`` on).

``make run`` sets no Twilio auth token, so the signed inbound webhook refuses every post. This view
stores a reply through ``inbound_simulate``, which calls the same ``inbound_receive`` as the webhook:
STOP, START, HELP and plain words act as they would for a real reply. With ``DEBUG`` off it is not
there at all (404 for every method, before sign-in is asked). ``manage.py demo_reply`` does the same
from a terminal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from core.errors import ServiceError
from core.http import AuthenticatedRequest
from core.phonenumbers import readable

from ..keywords import Keyword
from ..services import InboundResult, inbound_simulate
from .panel import SENT_EVENT, _panel_context, _phone_with_numbers_or_404

View = Callable[..., HttpResponse]


def debug_only(view: View) -> View:
    """404 unless ``settings.DEBUG``: a demo tool never answers in production. ``view.debug_only`` marks it
    for the fuzz net, which walks such routes again with ``DEBUG`` on (tests/security/test_fuzz_net.py)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DEBUG:
            raise Http404("Only with DEBUG on.")
        return view(request, *args, **kwargs)

    wrapper.debug_only = True  # type: ignore[attr-defined]
    return wrapper


def _what_happened(result: InboundResult, name: str, number: str) -> str:
    said = f"{name} replied from {number}: “{result.message.body if result.message else ''}”."
    if result.keyword == Keyword.STOP:
        return f"{said} The number is opted out, as a real STOP would do."
    if result.keyword == Keyword.START:
        return f"{said} The number is opted back in."
    if result.keyword == Keyword.HELP:
        return f"{said} Twilio would answer: “{result.reply}”"
    if result.message is not None and result.message.flagged_opt_out_request:
        return f"{said} It reads like a request to stop: flagged for an agent."
    return said


@debug_only
@login_required
@require_POST
def demo_reply(request: AuthenticatedRequest, phone_id: int) -> HttpResponse:
    """Store what the person texts from this number (``body``) as their reply; answer with the panel."""
    phone, _ = _phone_with_numbers_or_404(request, phone_id)
    person = phone.owner
    error, note = None, ""
    try:
        result = inbound_simulate(phone_number=phone, body=request.POST.get("body", ""))
        note = _what_happened(result, person.first_name, readable(phone.number))
    except ServiceError as exc:
        error = exc
    if not request.htmx:
        if error is not None:
            messages.error(request, error.message)
        else:
            messages.success(request, note)
        return redirect(f"{person.get_absolute_url()}?compose=1&phone={phone.pk}")
    phone, numbers = _phone_with_numbers_or_404(request, phone_id)  # read again: the reply may change consent
    context = _panel_context(request, phone, numbers=numbers)
    context.update(demo_reply_error=error, demo_reply_note=note, demo_reply_body=request.POST.get("body", "")[:1600])
    response = render(request, "messaging/panel.html", context)
    return response if error else trigger_client_event(response, SENT_EVENT)
