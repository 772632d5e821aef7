"""Web views for agents: the searchable list of leads and customers, and the cards."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.http import AuthenticatedRequest
from core.tenancy import require_organization

from .evidence import consent_evidence_csv_response, consent_evidence_rows, who_acted
from .models import PhoneNumber
from .selectors import Card, customer_card, history_card, lead_card, people_search
from .services import phone_number_confirm


@login_required
def home(request: AuthenticatedRequest) -> HttpResponse:
    organization = require_organization(request)
    query = request.GET.get("q", "")
    kind = request.GET.get("kind", "")
    if kind not in ("", "lead", "customer"):
        kind = ""
    people = people_search(organization=organization, query=query, kind=kind)
    page = Paginator(people, 25).get_page(request.GET.get("page"))
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
