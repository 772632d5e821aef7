"""Exchange with the property management system (PMS): CSV import and the customer export.

Numbers an agent adds here are ``local``: the import never touches them and the export
never contains them, so they stay in this system.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from .errors import ServiceError
from .models import Customer, Facility, Organization, PhoneNumber
from .services import phone_number_parse
from .workflows import enrollments_sync_customer

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
    def value(name: str) -> str:
        return (row.get(name) or "").strip()

    for name, raw in row.items():
        # A NUL byte can't be stored (PostgreSQL refuses it): say where it is instead of stopping the import.
        if "\x00" in str(name or "") + str(raw or ""):
            raise ServiceError("nul", f"{name or 'a column'} contains a NUL character", field=str(name or ""))
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
    # The model's own limits (lengths, digits): a row past them is reported, not a database error.
    for name, raw in (
        ("pms_id", value("pms_id")),
        ("first_name", value("first_name")),
        ("last_name", value("last_name")),
        ("unit", value("unit")),
        ("balance_due", balance),
    ):
        try:
            Customer._meta.get_field(name).clean(raw, None)
        except ValidationError as exc:
            raise ServiceError("invalid", f"{name} “{raw}”: {' '.join(exc.messages)}", field=name) from exc
    numbers = []
    for column, label in PHONE_COLUMNS:
        if value(column):
            try:
                numbers.append((phone_number_parse(value(column), field=column), label))
            except ServiceError as exc:
                raise ServiceError("phone", f"{column}: {exc.message}", field=column) from exc
    return {
        "facility": facility,
        "pms_id": value("pms_id"),
        "fields": {
            "first_name": value("first_name"),
            "last_name": value("last_name"),
            "unit": value("unit"),
            "balance_due": balance,
        },
        "numbers": numbers,
    }


def _sync_pms_numbers(customer: Customer, numbers: list) -> bool:
    """Make the customer's ``pms`` numbers match the file; ``local`` ones are left alone."""
    changed = False
    existing = {p.number.as_e164: p for p in customer.phone_numbers.all()}
    wanted = {parsed.as_e164: (parsed, label) for parsed, label in numbers}
    for e164, phone in existing.items():
        if phone.source == PhoneNumber.Source.PMS and e164 not in wanted:
            try:
                with transaction.atomic():
                    phone.delete()
            except ProtectedError:
                continue  # texts or history name it: the number stays on the record as evidence
            changed = True
    for e164, (parsed, label) in wanted.items():
        phone = existing.get(e164)
        if phone is None:
            PhoneNumber.objects.create(
                organization_id=customer.organization_id,
                customer=customer,
                number=parsed,
                label=label,
                source=PhoneNumber.Source.PMS,
            )
            changed = True
        elif phone.source == PhoneNumber.Source.PMS and phone.label != label:
            phone.label = label
            phone.save(update_fields=["label", "updated_at"])
            changed = True
    remaining = list(customer.phone_numbers.order_by("created_at", "id"))
    if remaining and not any(p.is_primary for p in remaining):
        # The PMS's first number leads; otherwise the oldest one.
        first_pms = (
            next((p for p in remaining if p.source == PhoneNumber.Source.PMS and p.number == numbers[0][0]), None)
            if numbers
            else None
        )
        PhoneNumber.objects.filter(pk=(first_pms or remaining[0]).pk).update(is_primary=True)
        changed = True
    return changed


def import_pms_customers(*, organization: Organization, stream: IO[str]) -> ImportReport:
    """Create or update customers from a PMS CSV export, one transaction per row.

    Columns: facility, pms_id, first_name, last_name, unit, balance_due, phone, phone_home,
    phone_work. Bad rows are reported with their line number and reason; good rows import.
    """
    report = ImportReport()
    reader = csv.DictReader(stream)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        report.errors.append((1, f"missing column(s): {', '.join(missing)}"))
        return report
    facilities = {f.name.casefold(): f for f in Facility.objects.filter(organization=organization)}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # an unreadable line (an unclosed quote, a huge field): report it, read on
            report.errors.append((reader.line_num, f"not readable as CSV: {exc}"))
            continue
        line = reader.line_num
        try:
            data = _clean_row(row, facilities)
        except ServiceError as exc:
            report.errors.append((line, exc.message))
            continue
        with transaction.atomic():
            customer = (
                Customer.objects.select_for_update().filter(facility=data["facility"], pms_id=data["pms_id"]).first()
            )
            if customer is None:
                customer = Customer.objects.create(
                    organization=organization, facility=data["facility"], pms_id=data["pms_id"], **data["fields"]
                )
                _sync_pms_numbers(customer, data["numbers"])
                enrollments_sync_customer(customer=customer, previous_balance=None)
                report.created += 1
                continue
            previous_balance = customer.balance_due
            dirty = [name for name, value in data["fields"].items() if getattr(customer, name) != value]
            for name in dirty:
                setattr(customer, name, data["fields"][name])
            if dirty:
                customer.save(update_fields=[*dirty, "updated_at"])
            numbers_changed = _sync_pms_numbers(customer, data["numbers"])
            if "balance_due" in dirty:  # falling due starts the collection workflow; paying ends it
                enrollments_sync_customer(customer=customer, previous_balance=previous_balance)
            if dirty or numbers_changed:
                report.updated += 1
            else:
                report.unchanged += 1
    return report


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
