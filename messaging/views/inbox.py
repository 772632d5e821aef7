"""The inbox: the conversations beside the one opened (its thread and the reply box, on the number that
wrote); done, unread and snooze; assignment; the list's poll; the header's unread count."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from core.errors import ServiceError
from core.formats import display_moment
from core.http import AuthenticatedRequest
from core.parsing import strict_id
from core.redirects import safe_next
from core.tenancy import people_of, require_organization
from interactions.models import Customer, Lead
from interactions.selectors import person_for

from ..selectors import conversation_state, inbox, inbox_version, reply_phone_id, unread_summary
from ..services import (
    conversation_assign,
    conversation_done,
    conversation_mark_unread,
    conversation_note_add,
    conversation_presence,
    conversation_reopen,
    conversation_snooze,
)

SHOWS = (
    ("all", "All"),
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("waiting", "Waiting on us"),
    ("flagged", "Stop requests"),
    ("snoozed", "Snoozed"),
    ("done", "Done"),
)


def _inbox_context(request: AuthenticatedRequest) -> dict:
    """The list as ``?show=`` and ``?q=`` ask for it, with its version (the poll's 204)."""
    organization = require_organization(request)
    show = request.GET.get("show", "all")
    if show not in dict(SHOWS):
        show = "all"
    query = request.GET.get("q", "").strip()[:200]
    rows = inbox(organization=organization, user=request.user, show=show, query=query)
    opened_key = request.GET.get("open", "")[:40]
    here = (
        reverse("inbox")
        + "?"
        + urlencode({"show": show, **({"q": query} if query else {}), **({"open": opened_key} if opened_key else {})})
    )
    return {
        "here": here,
        "rows": rows,
        "show": show,
        "shows": SHOWS,
        "query": query,
        "version": inbox_version(rows),
        "opened_key": opened_key,
    }


def _opened(request: AuthenticatedRequest) -> dict:
    """The conversation ``?open=<kind>-<pk>`` shows beside the list: the person, the number the panel
    replies on (the one that wrote last) and the conversation's state."""
    kind, _, pk = request.GET.get("open", "").partition("-")
    if not kind:
        return {}
    pk_value = strict_id(pk)
    person = person_for(organization=require_organization(request), kind=kind, pk=pk_value) if pk_value else None
    if person is None:
        raise Http404("No such record in your organization.")
    return {
        "opened": person,
        "reply_phone_id": reply_phone_id(person=person),
        "state": conversation_state(person=person),
    }


@login_required
@require_GET
def inbox_page(request: AuthenticatedRequest) -> HttpResponse:
    """``/inbox/?show=…&q=…&open=<kind>-<pk>``: the conversations (``SHOWS``), unread first, and the one
    opened beside them with its thread and the reply box, on the number that wrote."""
    context = _inbox_context(request)
    context.update(_opened(request))
    if "opened" in context:  # assignment is to people only, never an API key's service user
        context["agents"] = people_of(require_organization(request)).order_by("username")
    context["snooze_choices"] = snooze_choices(timezone.localtime())
    return render(request, "messaging/inbox.html", context)


@login_required
@require_GET
def inbox_list(request: AuthenticatedRequest) -> HttpResponse:
    """The inbox's list, polled every few seconds: 204 while it is unchanged (``?v=``), else the list."""
    context = _inbox_context(request)
    if request.GET.get("v") == context["version"]:
        return HttpResponse(status=204)
    return render(request, "messaging/_inbox_list.html", context)


def snooze_choices(now: datetime) -> list[tuple[str, str]]:
    """The snooze menu: (value for ``until``, label), in the agent's time zone."""
    tomorrow = (now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    monday = (now + timedelta(days=7 - now.weekday())).replace(hour=8, minute=0, second=0, microsecond=0)
    later = now + timedelta(hours=3)
    return [
        (later.isoformat(), f"In 3 hours ({later:%-I:%M %p})"),
        (tomorrow.isoformat(), f"Tomorrow, {tomorrow:%a %-I:%M %p}"),
        (monday.isoformat(), f"Next week, {monday:%a %b %-d %-I:%M %p}"),
    ]


STATE_ACTIONS = ("done", "unread", "snooze", "reopen")


@login_required
@require_POST
def conversation_set_state(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    """Mark a conversation done, unread, snoozed (``until``: an ISO time, or ``until_local`` from a
    date-time field) or reopened; back to the inbox."""
    person = _person_or_404(request, kind, pk)
    action = request.POST.get("action", "")
    try:
        if action == "done":
            conversation_done(person=person)
            said = f"{person.full_name}’s conversation is done. It comes back when they write."
        elif action == "unread":
            conversation_mark_unread(person=person)
            said = f"{person.full_name}’s conversation is marked unread."
        elif action == "snooze":
            until = _until(request)
            conversation_snooze(person=person, until=until)
            said = f"{person.full_name}’s conversation is snoozed until {display_moment(timezone.localtime(until))}."
        elif action == "reopen":
            conversation_reopen(person=person)
            said = f"{person.full_name}’s conversation is open again."
        else:
            raise ServiceError("invalid", "Choose done, unread, snooze or reopen.", field="action")
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, said)
    return redirect(safe_next(request, reverse("inbox")))


def _person_or_404(request: AuthenticatedRequest, kind: str, pk: int) -> Lead | Customer:
    person = person_for(organization=require_organization(request), kind=kind, pk=pk)
    if person is None:
        raise Http404("No such record in your organization.")
    return person


@login_required
@require_POST
def note_add(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    """A note for the team on the conversation (``body``): shown in the thread, never texted."""
    person = _person_or_404(request, kind, pk)
    try:
        conversation_note_add(person=person, author=request.user, body=request.POST.get("body", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Note added. It is for the team only and is never texted.")
    return redirect(safe_next(request, reverse("inbox")))


@login_required
@require_POST
def presence(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    """Polled by the opened conversation: "I am here" (``typing=1`` while the agent types), answered
    with who else has it open, and whether they are typing."""
    person = _person_or_404(request, kind, pk)
    others = conversation_presence(person=person, user=request.user, typing=request.POST.get("typing") == "1")
    return render(request, "messaging/_presence.html", {"others": others, "opened": person})


def _until(request: AuthenticatedRequest) -> datetime | None:
    raw = request.POST.get("until", "") or request.POST.get("until_local", "")
    try:
        moment = parse_datetime(raw.strip()) if raw else None
    except ValueError:
        moment = None
    if moment is None:
        raise ServiceError("invalid", "Choose when the conversation comes back.", field="until")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.get_current_timezone())


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
