"""Leads and customers: create, update and archive (never delete), with their numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.errors import ServiceError

from ..models import Customer, Facility, History, Lead, Organization, Owner, PhoneNumber
from ..signals import customer_balance_changed, lead_changed
from .history import history_record
from .phone_numbers import phone_number_add


@transaction.atomic
def person_archive(*, person: Owner, actor: User | None = None) -> Owner:
    """Archive a lead or customer: never deleted, so its numbers, history and consent ledger stay.

    An archived person leaves the home list and can't be texted (``message_queue`` refuses with
    ``archived``). Archiving twice changes nothing.
    """
    locked = type(person).objects.select_for_update().get(pk=person.pk)
    if locked.archived_at is None:
        locked.archived_at = timezone.now()
        locked.save(update_fields=["archived_at", "updated_at"])
        history_record(owner=locked, kind=History.Kind.NOTE, summary="Record archived.", agent=actor)
    person.archived_at = locked.archived_at
    return person


@dataclass(frozen=True)
class NewNumber:
    """A number to save with a new lead or customer (``phone_numbers`` of a create call)."""

    number: str | ParsedNumber
    label: str = PhoneNumber.Label.MOBILE
    is_primary: bool = False


def _check_facility(*, organization_id: int, facility: Facility | None) -> None:
    if facility is None or facility.organization_id != organization_id:
        raise ServiceError("invalid_facility", "Pick one of your organization’s facilities.", field="facility")


def _add_numbers(*, owner: Owner, numbers: Sequence[NewNumber]) -> None:
    primaries = [n for n in numbers if n.is_primary]
    if len(primaries) > 1:
        raise ServiceError("several_primary", "Mark at most one number as primary.", field="phone_numbers")
    for index, new in enumerate(numbers):
        try:
            phone_number_add(
                owner=owner,
                number=new.number,
                label=new.label,
                source=PhoneNumber.Source.LOCAL,
                make_primary=new.is_primary,
            )
        except ServiceError as exc:
            exc.field = f"phone_numbers[{index}].{exc.field or 'number'}"
            raise


_ADDRESS_FIELDS = ("state", "postal_code")
_LEAD_FIELDS = ("facility", "first_name", "last_name", "email", "status", "source", *_ADDRESS_FIELDS)
_CUSTOMER_FIELDS = ("facility", "pms_id", "first_name", "last_name", "unit", "balance_due", *_ADDRESS_FIELDS)


def _apply(instance: Owner, allowed: tuple[str, ...], changes: dict) -> list[str]:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ServiceError("unknown_field", f"These fields can’t be set here: {', '.join(sorted(unknown))}.")
    for name, value in changes.items():
        setattr(instance, name, value)
    if not (instance.first_name or "").strip():
        raise ServiceError("required", "Enter a first name.", field="first_name")
    _check_address(instance)
    return list(changes)


def _check_address(person: Owner) -> None:
    """The state and ZIP code decide which state's texting law applies: a typo must not pass silently."""
    person.state = (person.state or "").strip().upper()
    person.postal_code = (person.postal_code or "").strip()
    if person.state and not (len(person.state) == 2 and person.state.isalpha()):
        raise ServiceError("invalid_state", "Give the state as its two-letter code, e.g. FL.", field="state")
    digits = person.postal_code.replace("-", "")
    if person.postal_code and not (digits.isdigit() and len(digits) in (5, 9)):
        raise ServiceError(
            "invalid_postal_code", "Give a US ZIP code: 5 digits, or ZIP+4 like 33101-1234.", field="postal_code"
        )


@transaction.atomic
def lead_create(
    *, organization: Organization, facility: Facility, first_name: str, numbers: Sequence[NewNumber] = (), **fields: Any
) -> Lead:
    """Create a lead in ``organization``, with its phone numbers (all ``local``), in one transaction."""
    _check_facility(organization_id=organization.pk, facility=facility)
    lead = Lead(organization=organization)
    _apply(lead, _LEAD_FIELDS, {"facility": facility, "first_name": first_name, **fields})
    if lead.status not in Lead.Status.values:
        raise ServiceError("invalid_status", f"Choose a status: {', '.join(Lead.Status.values)}.", field="status")
    lead.save()
    _add_numbers(owner=lead, numbers=numbers)
    lead_changed.send(sender=Lead, lead=lead, created=True)  # into the default lead follow-up, if any
    return lead


@transaction.atomic
def lead_update(*, lead: Lead, **changes: Any) -> Lead:
    """Change a lead's details (its numbers change through the phone-number services)."""
    if "facility" in changes:
        _check_facility(organization_id=lead.organization_id, facility=changes["facility"])
    fields = _apply(lead, _LEAD_FIELDS, changes)
    if lead.status not in Lead.Status.values:
        raise ServiceError("invalid_status", f"Choose a status: {', '.join(Lead.Status.values)}.", field="status")
    lead.save(update_fields=[*fields, "updated_at"] if fields else None)
    if "status" in fields:
        lead_changed.send(sender=Lead, lead=lead, created=False)  # converted or lost: the follow-up ends
    return lead


def _save_customer(customer: Customer, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            customer.save(update_fields=update_fields)
    except IntegrityError as exc:
        raise ServiceError(
            "duplicate_pms_id",
            f"Another customer of {customer.facility.name} already has PMS id “{customer.pms_id}”.",
            field="pms_id",
        ) from exc


@transaction.atomic
def customer_create(
    *,
    organization: Organization,
    facility: Facility,
    first_name: str,
    pms_id: str,
    numbers: Sequence[NewNumber] = (),
    **fields: Any,
) -> Customer:
    """Create a customer with its phone numbers in one transaction.

    Numbers given here are ``local``: they stay in this system and are not sent to the PMS.
    """
    _check_facility(organization_id=organization.pk, facility=facility)
    if not (pms_id or "").strip():
        raise ServiceError("required", "Enter the customer’s id in the property management system.", field="pms_id")
    customer = Customer(organization=organization)
    _apply(customer, _CUSTOMER_FIELDS, {"facility": facility, "first_name": first_name, "pms_id": pms_id, **fields})
    _save_customer(customer)
    _add_numbers(owner=customer, numbers=numbers)
    # A balance due starts collection.
    customer_balance_changed.send(sender=Customer, customer=customer, previous_balance=None)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **changes: Any) -> Customer:
    """Change a customer's details (its numbers change through the phone-number services)."""
    if "facility" in changes:
        _check_facility(organization_id=customer.organization_id, facility=changes["facility"])
    if "pms_id" in changes and not (changes["pms_id"] or "").strip():
        raise ServiceError("required", "Enter the customer’s id in the property management system.", field="pms_id")
    previous_balance = customer.balance_due
    fields = _apply(customer, _CUSTOMER_FIELDS, changes)
    _save_customer(customer, [*fields, "updated_at"] if fields else None)
    if "balance_due" in fields:
        # Falling due starts the collection workflow; paying ends it.
        customer_balance_changed.send(sender=Customer, customer=customer, previous_balance=previous_balance)
    return customer
