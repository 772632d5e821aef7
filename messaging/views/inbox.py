"""The inbox: every conversation with texts, unread replies first; assignment; the header's unread count."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ServiceError
from core.http import AuthenticatedRequest
from core.redirects import safe_next
from core.tenancy import people_of, require_organization
from interactions.selectors import person_for

from ..selectors import inbox, unread_summary
from ..services import conversation_assign

SHOWS = (("all", "All"), ("unassigned", "Unassigned"), ("mine", "Mine"))


@login_required
@require_GET
def inbox_page(request: AuthenticatedRequest) -> HttpResponse:
    """``/inbox/?show=mine|unassigned|all&q=``: conversations, unread first; search names, numbers, texts."""
    organization = require_organization(request)
    show = request.GET.get("show", "all")
    if show not in dict(SHOWS):
        show = "all"
    query = request.GET.get("q", "").strip()
    rows = inbox(organization=organization, user=request.user, show=show, query=query)
    agents = people_of(organization).order_by("username")
    context = {
        "rows": rows,
        "show": show,
        "shows": SHOWS,
        "query": query,
        "agents": agents,
        "here": request.get_full_path(),
    }
    return render(request, "messaging/inbox.html", context)


@login_required
@require_GET
def unread(request: AuthenticatedRequest) -> HttpResponse:
    """The header's unread badge, polled every few seconds: 204 while nothing changed (``?v=``).

    When a reply arrived since the version the page has, a notice names who wrote.
    """
    organization = require_organization(request)
    summary = unread_summary(organization=organization)
    previous = request.GET.get("v", "")
    if previous == summary.version:
        return HttpResponse(status=204)
    try:
        previous_latest = int(previous.split("-")[1]) if previous else summary.latest_id
    except (IndexError, ValueError):
        previous_latest = summary.latest_id
    arrived = summary.latest if summary.latest and summary.latest_id > previous_latest else None
    return render(request, "messaging/_unread_badge.html", {"summary": summary, "arrived": arrived})


@login_required
@require_POST
def assign(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    """Give a conversation to an agent (``assigned_to`` empty: to nobody)."""
    organization = require_organization(request)
    person = person_for(organization=organization, kind=kind, pk=pk)
    if person is None:
        raise Http404("No such record in your organization.")
    try:
        conversation = conversation_assign(person=person, assignee_id=request.POST.get("assigned_to"), by=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        who = conversation.assigned_to
        name = (who.get_full_name() or who.get_username()) if who else "nobody"
        messages.success(request, f"{person.full_name}’s conversation is assigned to {name}.")
    return redirect(safe_next(request, reverse("inbox")))
