"""The outstanding list's inbound section: replies to act on, loaded into ``/outstanding/`` by htmx."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from interactions.models import Organization
from interactions.views import require_organization

from ..models import Message

RECENT = timedelta(days=30)
LIMIT = 50


def _inbound(organization: Organization) -> QuerySet[Message]:
    return (
        Message.objects.filter(
            organization=organization,
            direction=Message.Direction.INBOUND,
            created_at__gte=timezone.now() - RECENT,
        )
        .select_related("lead", "customer", "phone_number")
        .order_by("-created_at", "-id")
    )


def inbound_flagged(organization: Organization) -> list[Message]:
    """Recent replies that ask, in plain words, not to be texted (not a STOP keyword)."""
    return list(_inbound(organization).filter(flagged_opt_out_request=True)[:LIMIT])


def inbound_unmatched(organization: Organization) -> list[Message]:
    """Recent texts from numbers no lead or customer has."""
    return list(_inbound(organization).filter(lead__isnull=True, customer__isnull=True)[:LIMIT])


@login_required
def outstanding_inbound(request: HttpRequest) -> HttpResponse:
    organization = require_organization(request)
    return render(
        request,
        "messaging/_outstanding_inbound.html",
        {"flagged": inbound_flagged(organization), "unmatched": inbound_unmatched(organization)},
    )
