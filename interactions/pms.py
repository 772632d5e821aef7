"""Exchange with the property management system (PMS): CSV import and the customer export.

Numbers an agent adds here are ``local``: the import never touches them and the export
never contains them, so they stay in this system.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Field
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.errors import ServiceError

from .models import Customer, Facility, Organization, PhoneNumber
from .services import (
    customer_create,
    customer_update,
    phone_number_add,
    phone_number_delete,
    phone_number_parse,
    phone_number_relabel,
    phone_number_set_primary,
)

REQUIRED_COLUMNS = ("facility", "pms_id", "first_name")
PHONE_COLUMNS = (
    ("phone", PhoneNumber.Label.MOBILE),
    ("phone_home", PhoneNumber.Label.HOME),
    ("phone_work", PhoneNumber.Label.WORK),
)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def _clean_row(row: dict[str, str], facilities: dict[str, Facility]) -> dict[str, Any]:
    """One CSV row as the services take it, or a ``ServiceError`` naming the column and why."""

    def value(name: str) -> str:
        return (row.get(name) or "").strip()

    _check_no_nul(row)
    for name in REQUIRED_COLUMNS:
        if not value(name):
            raise ServiceError("missing", f"{name} is empty", field=name)
    facility = facilities.get(value("facility").casefold())
    if facility is None:
        raise ServiceError(
            "facility", f"facility “{value('facility')}” is not one of this organization’s", field="facility"
        )
    try:
        balance = Decimal(value("balance_due") or "0")
    except InvalidOperation as exc:
        raise ServiceError(
            "balance", f"balance_due “{value('balance_due')}” is not a number", field="balance_due"
        ) from exc
    fields: dict[str, Any] = {
        "first_name": value("first_name"),
        "last_name": value("last_name"),
        "unit": value("unit"),
        "balance_due": balance,
        # The address decides which state's texting law applies (optional columns: a file
        # without them leaves what the record has).
        **{name: value(name) for name in ("state", "postal_code") if name in row},
    }
    _check_model_limits(
        {"pms_id": value("pms_id"), "state": value("state"), "postal_code": value("postal_code"), **fields}
    )
    return {"facility": facility, "pms_id": value("pms_id"), "fields": fields, "numbers": _row_numbers(value)}


def _check_no_nul(row: dict[str, str]) -> None:
    for name, raw in row.items():
        # A NUL byte can't be stored (PostgreSQL refuses it): say where it is instead of stopping the import.
        if "\x00" in str(name or "") + str(raw or ""):
            raise ServiceError("nul", f"{name or 'a column'} contains a NUL character", field=str(name or ""))


_LIMITED_FIELDS = ("pms_id", "first_name", "last_name", "unit", "balance_due", "state", "postal_code")


def _check_model_limits(values: dict[str, Any]) -> None:
    """The model's own limits (lengths, digits): a row past them is reported, not a database error."""
    for name in _LIMITED_FIELDS:
        raw = values[name]
        try:
            cast("Field[Any, Any]", Customer._meta.get_field(name)).clean(raw, None)
        except ValidationError as exc:
            raise ServiceError("invalid", f"{name} “{raw}”: {' '.join(exc.messages)}", field=name) from exc


def _row_numbers(value: Callable[[str], str]) -> list[tuple[ParsedNumber, str]]:
    """The row's phone numbers with their labels, parsed as every number is (``phone_number_parse``)."""
    numbers: list[tuple[ParsedNumber, str]] = []
    for column, label in PHONE_COLUMNS:
        if value(column):
            try:
                numbers.append((phone_number_parse(value(column), field=column), label))
            except ServiceError as exc:
                raise ServiceError("phone", f"{column}: {exc.message}", field=column) from exc
    return numbers


def _sync_pms_numbers(customer: Customer, numbers: list) -> bool:
    """Make the customer's ``pms`` numbers match the file; ``local`` ones are left alone.

    Every change goes through the phone-number services. When the primary number leaves with the
    file (or there is none), the file's first number becomes primary.
    """
    existing = {p.number.as_e164: p for p in customer.phone_numbers.all()}
    wanted = {parsed.as_e164: (parsed, label) for parsed, label in numbers}
    removed = [p for e164, p in existing.items() if p.source == PhoneNumber.Source.PMS and e164 not in wanted]
    primary_leaves = not any(p.is_primary for p in existing.values()) or any(p.is_primary for p in removed)
    changed = False
    for index, (e164, (parsed, label)) in enumerate(wanted.items()):
        primary = index == 0 and primary_leaves
        changed |= _sync_pms_number(customer, existing.get(e164), parsed=parsed, label=label, primary=primary)
    for phone in removed:
        try:
            phone_number_delete(phone_number=phone, from_pms=True)
        except ServiceError:
            continue  # texts or history name it (number_in_use): it stays on the record as evidence
        changed = True
    return changed


def _sync_pms_number(
    customer: Customer, phone: PhoneNumber | None, *, parsed: ParsedNumber, label: str, primary: bool
) -> bool:
    """Add one number of the file, or bring its label and primary mark to the file's; whether anything changed."""
    if phone is None:
        phone_number_add(
            owner=customer, number=parsed, label=label, source=PhoneNumber.Source.PMS, make_primary=primary
        )
        return True
    if phone.source != PhoneNumber.Source.PMS:
        return False
    changed = False
    if phone.label != label:
        phone_number_relabel(phone_number=phone, label=label, from_pms=True)
        changed = True
    if primary and not phone.is_primary:
        phone_number_set_primary(phone_number=phone)
        changed = True
    return changed


def import_pms_customers(*, organization: Organization, stream: IO[str]) -> ImportReport:
    """Create or update customers from a PMS CSV export, one transaction per row.

    Columns: facility, pms_id, first_name, last_name, unit, balance_due, phone, phone_home,
    phone_work; optional state and postal_code (the address's state decides its texting law).
    Bad rows are reported with their line number and reason; good rows import.
    Customers are written by ``customer_create``/``customer_update``, numbers by the phone-number
    services: the import keeps the same rules as the UI, the admin and the API.
    """
    report = ImportReport()
    reader = csv.DictReader(stream)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        report.errors.append((1, f"missing column(s): {', '.join(missing)}"))
        return report
    facilities = {f.name.casefold(): f for f in Facility.objects.filter(organization=organization)}
    for line, row in _readable_rows(reader, report):
        try:
            outcome = _import_row(organization, _clean_row(row, facilities))
        except ServiceError as exc:
            report.errors.append((line, exc.message))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _readable_rows(reader: csv.DictReader, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row with its line number; an unreadable line (an unclosed quote, a huge field) is reported, and
    reading goes on."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.errors.append((reader.line_num, f"not readable as CSV: {exc}"))
            continue
        yield reader.line_num, row


@transaction.atomic
def _import_row(organization: Organization, data: dict[str, Any]) -> str:
    """Create or update one customer and their numbers: ``created``, ``updated`` or ``unchanged``."""
    customer = Customer.objects.select_for_update().filter(facility=data["facility"], pms_id=data["pms_id"]).first()
    if customer is None:
        customer = customer_create(
            organization=organization, facility=data["facility"], pms_id=data["pms_id"], **data["fields"]
        )
        _sync_pms_numbers(customer, data["numbers"])
        return "created"
    dirty = {name: value for name, value in data["fields"].items() if getattr(customer, name) != value}
    if dirty:
        customer_update(customer=customer, **dirty)
    numbers_changed = _sync_pms_numbers(customer, data["numbers"])
    return "updated" if dirty or numbers_changed else "unchanged"


def pms_export_customer(customer: Customer) -> dict[str, Any]:
    """What is sent back to the PMS for a customer: never a number added locally."""
    return {
        "pms_id": customer.pms_id,
        "facility": customer.facility.name,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "unit": customer.unit,
        "balance_due": str(customer.balance_due),
        "phone_numbers": [
            {"number": p.number.as_e164, "label": p.label, "is_primary": p.is_primary}
            for p in customer.phone_numbers.filter(source=PhoneNumber.Source.PMS).order_by("-is_primary", "id")
        ],
    }
