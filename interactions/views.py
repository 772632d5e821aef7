"""Web views for agents: the searchable list of leads and customers, the cards, and the card's phone menu
(Add New, record text permission, record an opt-out: the CRM's writes the ribbon offers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from core.errors import ServiceError
from core.http import AuthenticatedRequest, request_evidence
from core.tenancy import require_organization

from .evidence import consent_evidence_csv_response, consent_evidence_rows, who_acted
from .models import ConsentEvent, Customer, Lead, PhoneNumber
from .selectors import (
    Card,
    customer_card,
    history_card,
    lead_card,
    owner_numbers,
    people_search,
    person_for,
    phone_number_for,
)
from .services import consent_grant, consent_revoke, phone_number_add, phone_number_confirm

PER_PAGE = 25


@dataclass(frozen=True)
class PeoplePage:
    """One page of the home list: its people and whether more follow (no total: counting every
    match would read every person of a large organization for a number nobody needs)."""

    people: list[Lead | Customer]
    number: int
    has_next: bool

    def __iter__(self) -> Iterator[Lead | Customer]:
        return iter(self.people)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def _page_number(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 10_000))
    except ValueError:
        return 1


@login_required
def home(request: AuthenticatedRequest) -> HttpResponse:
    organization = require_organization(request)
    query = request.GET.get("q", "")
    kind = request.GET.get("kind", "")
    if kind not in ("", "lead", "customer"):
        kind = ""
    number = _page_number(request.GET.get("page"))
    people = people_search(organization=organization, query=query, kind=kind, offset=(number - 1) * PER_PAGE,
                           limit=PER_PAGE + 1)  # fmt: skip
    page = PeoplePage(people=people[:PER_PAGE], number=number, has_next=len(people) > PER_PAGE)
    template = "interactions/_people_rows.html" if request.htmx else "interactions/home.html"
    return render(request, template, {"page": page, "query": query, "kind": kind, "organization": organization})


def _render_card(request: AuthenticatedRequest, card: Card | None) -> HttpResponse:
    """Render a card; ``?compose=1&phone=&template=&task=`` opens the text panel pre-filled.

    The workflow list links here with those parameters; an unknown ``phone`` falls back to
    the primary number, and ``template``/``task`` are passed on to the panel untouched (the
    panel checks them inside the organization).
    """
    if card is None:
        raise Http404("No such record in your organization.")
    chosen = card.number(request.GET.get("phone"))
    if chosen is None and card.focus is not None and card.focus.phone_number_id:
        chosen = card.number(card.focus.phone_number_id)
    chosen = chosen or card.primary
    compose = request.GET.get("compose") == "1" and chosen is not None
    context = {
        "card": card,
        "person": card.person,
        "numbers": card.numbers,
        "labels": PhoneNumber.Label.choices,
        "chosen": chosen,
        "compose": compose,
        "compose_template": request.GET.get("template", "") if compose else "",
        "compose_task": request.GET.get("task", "") if compose else "",
    }
    return render(request, "interactions/card.html", context)


@login_required
def lead_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _render_card(request, lead_card(organization=require_organization(request), pk=pk))


@login_required
def customer_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _render_card(request, customer_card(organization=require_organization(request), pk=pk))


@login_required
def history_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _render_card(request, history_card(organization=require_organization(request), pk=pk))


@login_required
@require_POST
def number_confirm(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """ "Confirm this is still their number": the date goes on the number and the record's history."""
    organization = require_organization(request)
    phone = PhoneNumber.objects.filter(organization=organization, pk=pk).select_related("lead", "customer").first()
    if phone is None:
        raise Http404("No such phone number in your organization.")
    phone_number_confirm(phone_number=phone, agent=request.user, note=request.POST.get("note", ""))
    messages.success(request, f"Confirmed {phone.national} is still {phone.owner.first_name}’s number.")
    return redirect(phone.owner)


def consent_evidence(request: HttpRequest, phone_id: int) -> HttpResponse:
    """One number's consent ledger as a printable page, or as CSV with ``?format=csv``."""
    organization = require_organization(request)
    phone = PhoneNumber.objects.filter(organization=organization, pk=phone_id).first()
    if phone is None:
        raise Http404("No such number.")
    if request.GET.get("format") == "csv":
        return consent_evidence_csv_response(organization=organization, number=phone.number)
    events = consent_evidence_rows(organization=organization, number=phone.number)
    rows = [(event, who_acted(event)) for event in events]
    return render(
        request,
        "interactions/consent_evidence.html",
        {"phone": phone, "organization": organization, "rows": rows, "printed_at": timezone.now()},
    )


# --- the phone menu: Add New, record text permission, record an opt-out ----------------------------


def _phone_or_404(request: AuthenticatedRequest, pk: int) -> PhoneNumber:
    phone = phone_number_for(organization=require_organization(request), pk=pk)
    if phone is None:
        raise Http404("No such phone number in your organization.")
    return phone


def text_controls_context(*, person: Lead | Customer, numbers: list[PhoneNumber], **extra: Any) -> dict:
    """What ``messaging/_text_controls.html`` needs (the card view builds the same keys)."""
    return {"person": person, "numbers": numbers, "labels": PhoneNumber.Label.choices, **extra}


@login_required
@require_POST
def number_add(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    """Add New: save another number on a lead or customer (customers: kept here, not sent to the PMS)."""
    organization = require_organization(request)
    owner = person_for(organization=organization, kind=kind.removesuffix("s"), pk=pk)  # /text/leads/<id>/numbers/
    if owner is None:
        raise Http404("No such record in your organization.")
    values = {"number": request.POST.get("number", "").strip(), "label": request.POST.get("label", "mobile")}
    added: PhoneNumber | None = None
    error: ServiceError | None = None
    try:
        added = phone_number_add(
            owner=owner, number=values["number"], label=values["label"], source=PhoneNumber.Source.LOCAL
        )
    except ServiceError as exc:
        error = exc
    if not request.htmx:
        if added is not None:
            messages.success(request, f"Added {added.national} to {owner.full_name}’s record.")
        elif error is not None:
            messages.error(request, error.message)
        return redirect(owner)
    context = text_controls_context(
        person=owner,
        numbers=owner_numbers(owner=owner),
        menu_open=True,
        add_open=error is not None,
        add_error=error,
        add_values=values if error else {},
        added=added,
    )
    return render(request, "messaging/_text_controls.html", context)


@login_required
@require_POST
def consent_record(request: AuthenticatedRequest, phone_id: int) -> HttpResponse:
    """Record text permission an agent obtained (the note of how is required), then reload the card."""
    return _consent_change_by_agent(
        request,
        phone_id,
        change=consent_grant,
        form="interactions/_consent_form.html",
        form_prefix="consent",
        done=lambda phone: f"Text permission recorded for {phone.national}. You can text {phone.owner.first_name} now.",
    )


@login_required
@require_POST
def consent_opt_out(request: AuthenticatedRequest, phone_id: int) -> HttpResponse:
    """Record an opt-out an agent was told about (why is required), then reload the card.

    The number's Text icon is disabled from then on; an agent may record permission again later
    (only the person's own opt-out rules that out).
    """
    return _consent_change_by_agent(
        request,
        phone_id,
        change=consent_revoke,
        form="interactions/_optout_form.html",
        form_prefix="optout",
        done=lambda phone: (
            f"Opt-out recorded for {phone.national}. Nobody can text it until permission is recorded again."
        ),
    )


def _consent_change_by_agent(
    request: AuthenticatedRequest,
    phone_id: int,
    *,
    change: Callable[..., ConsentEvent],
    form: str,
    form_prefix: str,
    done: Callable[[PhoneNumber], str],
) -> HttpResponse:
    """An agent's grant or revoke for one of the card's numbers, with their note as the ledger's evidence.

    A refusal (no note, the person's own opt-out) is shown in the form it came from (htmx), or on the card.
    """
    phone = _phone_or_404(request, phone_id)
    note = request.POST.get("note", "").strip()
    try:
        change(
            organization=phone.organization,
            number=phone.number,
            source=ConsentEvent.Source.AGENT,
            actor=request.user,
            evidence=note,
            **request_evidence(request),
        )
    except ServiceError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect(phone.owner)
        context = {"phone": phone, f"{form_prefix}_error": exc, f"{form_prefix}_note": note}
        return render(request, form, {**context, "compact": not phone.is_primary})
    messages.success(request, done(phone))
    return HttpResponseClientRefresh() if request.htmx else redirect(phone.owner)
