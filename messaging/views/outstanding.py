"""The outstanding list's inbound section: replies to act on, loaded into ``/outstanding/`` by htmx."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.tenancy import require_organization

from ..selectors import inbound_flagged, inbound_unmatched

LIMIT = 50  # newest first; older ones show once these are dealt with


@login_required
def outstanding_inbound(request: HttpRequest) -> HttpResponse:
    organization = require_organization(request)
    return render(
        request,
        "messaging/_outstanding_inbound.html",
        {
            "flagged": list(inbound_flagged(organization).order_by("-created_at", "-id")[:LIMIT]),
            "unmatched": list(inbound_unmatched(organization).order_by("-created_at", "-id")[:LIMIT]),
        },
    )
