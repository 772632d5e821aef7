"""The outstanding list's inbound section: replies to act on, loaded into ``/outstanding/`` by htmx."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core.tenancy import require_organization

from ..selectors import inbound_flagged, inbound_unmatched

LIMIT = 50  # the most urgent first; the rest show once these are dealt with


@login_required
def outstanding_inbound(request: HttpRequest) -> HttpResponse:
    organization = require_organization(request)
    flagged = inbound_flagged(organization)
    now = timezone.now()
    return render(
        request,
        "messaging/_outstanding_inbound.html",
        {
            # Due first: a plain-words opt-out must be honoured within 10 business days, overdue ones on top.
            "flagged": list(flagged.order_by(F("opt_out_due_at").asc(nulls_last=True), "created_at", "id")[:LIMIT]),
            "overdue": flagged.filter(opt_out_due_at__lt=now).count(),
            "now": now,
            "unmatched": list(inbound_unmatched(organization).order_by("-created_at", "-id")[:LIMIT]),
        },
    )
