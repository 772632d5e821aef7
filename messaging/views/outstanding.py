"""The outstanding list's inbound section: replies to act on, loaded into ``/outstanding/`` by htmx."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core.tenancy import require_organization

from ..models import Message
from ..selectors import inbound_flagged, inbound_unmatched

LIMIT = 50  # the most urgent first; the rest show once these are dealt with
# Counted up to here, then "1,000+": each flagged reply is checked against the number's opt-outs, and a
# backlog of thousands (an operator's, measured in bench/RESULTS.md "Scale") would cost the page more to
# count than to show.
COUNT_CAP = 1000


@login_required
def outstanding_inbound(request: HttpRequest) -> HttpResponse:
    organization = require_organization(request)
    # The row's person and their facility (whose zone the time is written in) come with the reply.
    flagged = inbound_flagged(organization).select_related("lead__facility", "customer__facility")
    unmatched = inbound_unmatched(organization)
    now = timezone.now()
    return render(
        request,
        "messaging/_outstanding_inbound.html",
        {
            # Due first: a plain-words opt-out must be honoured within 10 business days, overdue ones on top.
            "flagged": list(flagged.order_by(F("opt_out_due_at").asc(nulls_last=True), "created_at", "id")[:LIMIT]),
            "waiting": _counted(flagged),
            "overdue": _counted(flagged.filter(opt_out_due_at__lt=now)),
            "now": now,
            "unmatched": list(unmatched.order_by("-created_at", "-id")[:LIMIT]),
            "unmatched_waiting": _counted(unmatched),
        },
    )


def _counted(replies: QuerySet[Message]) -> dict[str, int | str]:
    """How many of ``replies`` there are (``n``, up to one past ``COUNT_CAP``) and how the page says it
    (``label``: "12", "1,000+")."""
    n = replies.order_by()[: COUNT_CAP + 1].count()
    return {"n": n, "label": f"{COUNT_CAP:,}+" if n > COUNT_CAP else f"{n:,}"}
