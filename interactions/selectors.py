"""Reads for cards and lists. Querysets are scoped to one organization here."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet

from .models import Consent, ConsentEvent, Customer, History, Lead, Organization, PhoneNumber


def organization_for_user(user: AbstractBaseUser) -> Organization | None:
    """The organization a signed-in user works in, or ``None`` (no membership)."""
    if not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    return membership.organization if membership else None


def role_for_user(user: AbstractBaseUser) -> str | None:
    membership = getattr(user, "membership", None) if user.is_authenticated else None
    return membership.role if membership else None


def leads_for(*, organization: Organization) -> QuerySet[Lead]:
    return Lead.objects.filter(organization=organization).select_related("facility")


def customers_for(*, organization: Organization) -> QuerySet[Customer]:
    return Customer.objects.filter(organization=organization).select_related("facility")


def _with_numbers(qs: QuerySet) -> QuerySet:
    return qs.prefetch_related(Prefetch("phone_numbers", queryset=PhoneNumber.objects.order_by("-is_primary", "id")))


def people_search(*, organization: Organization, query: str = "", kind: str = "") -> list[Lead | Customer]:
    """Leads and customers matching a name, number or facility fragment, newest activity first."""
    query = query.strip()
    digits = "".join(ch for ch in query if ch.isdigit())
    name_filter = Q()
    if query:
        name_filter = (
            Q(first_name__icontains=query) | Q(last_name__icontains=query) | Q(facility__name__icontains=query)
        )
        parts = query.split()
        if len(parts) >= 2:
            name_filter |= Q(first_name__icontains=parts[0], last_name__icontains=" ".join(parts[1:]))
        if len(digits) >= 3:
            name_filter |= Q(phone_numbers__number__contains=digits)
    results: list[Lead | Customer] = []
    if kind in ("", "lead"):
        results += list(_with_numbers(leads_for(organization=organization).filter(name_filter).distinct()))
    if kind in ("", "customer"):
        results += list(_with_numbers(customers_for(organization=organization).filter(name_filter).distinct()))
    results.sort(key=lambda p: p.updated_at, reverse=True)
    return results


def consents_by_number(*, organization: Organization, numbers: list[PhoneNumber]) -> dict[str, Consent]:
    """Consent rows keyed by E.164 for the given numbers, in one query."""
    e164s = {n.e164 for n in numbers}
    rows = Consent.objects.filter(organization=organization, number__in=e164s).select_related("last_event")
    return {row.number.as_e164: row for row in rows}


def history_for(*, owner: Lead | Customer, limit: int = 50) -> QuerySet[History]:
    return owner.history.select_related("agent").order_by("-occurred_at", "-id")[:limit]


def leads_with_numbers(*, organization: Organization) -> QuerySet[Lead]:
    """Leads of ``organization`` with their numbers prefetched, in a stable order for paging."""
    return _with_numbers(leads_for(organization=organization)).order_by("-created_at", "-id")


def customers_with_numbers(*, organization: Organization) -> QuerySet[Customer]:
    return _with_numbers(customers_for(organization=organization)).order_by("last_name", "first_name", "id")


def phone_numbers_for(*, organization: Organization) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(organization=organization).select_related(
        "lead__facility", "customer__facility", "organization"
    )


def consent_history(*, organization: Organization, number, limit: int = 200) -> list[ConsentEvent]:
    """The ledger of one number, newest first (at most ``limit`` entries)."""
    events = ConsentEvent.objects.filter(organization=organization, number=number).select_related("actor")
    return list(events.order_by("-created_at", "-id")[:limit])
