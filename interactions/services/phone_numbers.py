"""Phone numbers on leads and customers: parse what a person typed, add, relabel, make primary, delete;
what the line-type lookup, the carrier and a reply tell about a number."""

from __future__ import annotations

from datetime import datetime

import phonenumbers
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from phonenumber_field.phonenumber import to_python

from core.errors import ServiceError
from core.phonenumbers import readable

from ..models import History, Organization, Owner, PhoneNumber, owner_kwargs
from ..signals import phone_number_saved
from .history import history_record


def phone_number_parse(raw: str | ParsedNumber, *, field: str = "number") -> ParsedNumber:
    """Parse what a person typed into an E.164 number, or raise a ``ServiceError`` naming why."""
    if isinstance(raw, ParsedNumber) and raw.is_valid():
        return raw
    text = str(raw or "").strip()
    if not text:
        raise ServiceError("invalid_number", "Enter a phone number.", field=field)
    parsed = to_python(text, region="US")
    if not isinstance(parsed, ParsedNumber) or not parsed.is_valid():
        reason = "it is not a valid phone number"
        try:
            possible = phonenumbers.is_possible_number_with_reason(phonenumbers.parse(text, "US"))
            reason = {
                phonenumbers.ValidationResult.TOO_SHORT: "it has too few digits",
                phonenumbers.ValidationResult.TOO_LONG: "it has too many digits",
                phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "its country code is not valid",
                phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "it needs an area code",
            }.get(possible, reason)
        except phonenumbers.NumberParseException as exc:
            reason = {
                phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "its country code is not valid",
                phonenumbers.NumberParseException.TOO_SHORT_NSN: "it has too few digits",
                phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it has too few digits",
                phonenumbers.NumberParseException.TOO_LONG: "it has too many digits",
            }.get(exc.error_type, "it is not a phone number")
        raise ServiceError(
            "invalid_number",
            f"“{text}” can’t be texted: {reason}. Use a format like (512) 555-0142 or +15125550142.",
            field=field,
        )
    return parsed


@transaction.atomic
def phone_number_add(
    *,
    owner: Owner,
    number: str | ParsedNumber,
    label: str = PhoneNumber.Label.MOBILE,
    source: str = PhoneNumber.Source.LOCAL,
    make_primary: bool = False,
) -> PhoneNumber:
    """Save a number on a lead or customer. The first number becomes primary.

    Numbers added here for a customer are ``local``: they stay in this system and are never
    sent to the property management system.
    """
    parsed = phone_number_parse(number)
    if label not in PhoneNumber.Label.values:
        raise ServiceError("invalid_label", f"Choose a label: {', '.join(PhoneNumber.Label.values)}.", field="label")
    existing = PhoneNumber.objects.select_for_update().filter(**owner_kwargs(owner))
    if any(p.number == parsed for p in existing):
        raise ServiceError(
            "duplicate_number", f"{readable(parsed)} is already saved on {owner.full_name}’s record.", field="number"
        )
    has_numbers = existing.exists()
    try:
        with transaction.atomic():
            phone = PhoneNumber.objects.create(
                organization_id=owner.organization_id,
                number=parsed,
                label=label,
                source=source,
                is_primary=not has_numbers,
                **owner_kwargs(owner),
            )
    except IntegrityError as exc:  # a concurrent add of the same number
        raise ServiceError(
            "duplicate_number", f"{readable(parsed)} is already saved on this record.", field="number"
        ) from exc
    if make_primary and has_numbers:
        _primary_move(phone)
    phone_number_saved.send(sender=PhoneNumber, phone_number=phone)
    return phone


def _primary_move(phone_number: PhoneNumber) -> None:
    """Make ``phone_number`` its record's one primary number: the only place the primary changes.

    The caller holds the lock on the record's numbers. The old primary is cleared first (the
    database allows one primary per record at any moment).
    """
    of_owner = PhoneNumber.objects.filter(**owner_kwargs(phone_number.owner))
    now = timezone.now()  # both numbers changed: ``updated_since`` and their ETags see it
    of_owner.exclude(pk=phone_number.pk).filter(is_primary=True).update(is_primary=False, updated_at=now)
    of_owner.filter(pk=phone_number.pk).update(is_primary=True, updated_at=now)
    phone_number.is_primary, phone_number.updated_at = True, now


@transaction.atomic
def phone_number_set_primary(*, phone_number: PhoneNumber) -> PhoneNumber:
    list(PhoneNumber.objects.select_for_update().filter(**owner_kwargs(phone_number.owner)))
    _primary_move(phone_number)
    return phone_number


@transaction.atomic
def phone_number_relabel(*, phone_number: PhoneNumber, label: str, from_pms: bool = False) -> PhoneNumber:
    """Change what a number is (mobile, home, work, other); the number itself never changes.

    A different number is a new number (``phone_number_add``), so the texts and history of the
    old one stay with it. A PMS number's details come from the PMS: only the import (``from_pms``)
    relabels it.
    """
    if label not in PhoneNumber.Label.values:
        raise ServiceError("invalid_label", f"Choose a label: {', '.join(PhoneNumber.Label.values)}.", field="label")
    if phone_number.label == label:
        return phone_number
    if phone_number.source == PhoneNumber.Source.PMS and not from_pms:
        raise ServiceError(
            "pms_number", "This number comes from the property management system; change it there.", field="label"
        )
    phone_number.label = label
    phone_number.save(update_fields=["label", "updated_at"])
    return phone_number


def phone_numbers_line_type_record(
    *,
    organization: Organization,
    number: str | ParsedNumber,
    line_type: str,
    carrier: str = "",
    demo: bool = False,
    now: datetime | None = None,
) -> int:
    """Store a line-type lookup on every record of ``organization`` holding ``number``; how many rows.

    A landline, pager or voicemail-only line is then not textable (``PhoneNumber.not_textable``).
    """
    if line_type not in PhoneNumber.LineType.values:
        line_type = PhoneNumber.LineType.UNKNOWN
    return PhoneNumber.objects.filter(organization=organization, number=number).update(
        line_type=line_type,
        line_type_carrier=(carrier or "")[:120],
        line_type_checked_at=now or timezone.now(),
        line_type_demo=demo,
        updated_at=timezone.now(),
    )


def phone_numbers_mark_not_textable(
    *, organization: Organization, number: str | ParsedNumber, reason: str, now: datetime | None = None
) -> int:
    """The carrier says ``number`` cannot get texts: mark it on every record of ``organization``; how many rows.

    The card then disables its Text icon with ``reason`` and suggests the record's other numbers.
    A number already marked keeps its first date and reason.
    """
    return PhoneNumber.objects.filter(organization=organization, number=number, not_textable_at__isnull=True).update(
        not_textable_at=now or timezone.now(), not_textable_reason=reason[:300], updated_at=timezone.now()
    )


@transaction.atomic
def phone_number_confirm(
    *, phone_number: PhoneNumber, agent: User | None, note: str = "", now: datetime | None = None
) -> PhoneNumber:
    """An agent confirmed the number is still the person's: the date on the number and on the record's history.

    A number not confirmed for ``NUMBER_RECONFIRM_AFTER_DAYS`` makes the card suggest this before
    a workflow texts it (a reassigned number reaches a stranger).
    """
    now = now or timezone.now()
    PhoneNumber.objects.filter(pk=phone_number.pk).update(confirmed_at=now, updated_at=now)
    phone_number.confirmed_at = now
    history_record(
        owner=phone_number.owner,
        kind=History.Kind.NOTE,
        agent=agent,
        phone_number=phone_number,
        summary=f"Confirmed {phone_number.national} is still their number." + (f" {note.strip()}" if note else ""),
        occurred_at=now,
    )
    return phone_number


def phone_numbers_confirmed_by_reply(
    *, organization: Organization, number: str | ParsedNumber, now: datetime | None = None
) -> int:
    """A reply from ``number`` confirms it is still the person's (on every record holding it)."""
    now = now or timezone.now()
    return PhoneNumber.objects.filter(organization=organization, number=number).update(confirmed_at=now)


@transaction.atomic
def phone_number_delete(*, phone_number: PhoneNumber, from_pms: bool = False) -> None:
    """Delete a local number; if it was primary, the oldest remaining number becomes primary.

    Numbers from the property management system are changed there: only the PMS import
    (``from_pms``) removes them. A number that texts or history name stays (``number_in_use``).
    """
    if phone_number.source == PhoneNumber.Source.PMS and not from_pms:
        raise ServiceError(
            "pms_number", "This number comes from the property management system; change it there.", field="number"
        )
    of_owner = owner_kwargs(phone_number.owner)
    list(PhoneNumber.objects.select_for_update().filter(**of_owner))
    was_primary = phone_number.is_primary
    try:
        with transaction.atomic():
            phone_number.delete()
    except ProtectedError as exc:
        # History and texts point at it (PROTECT): they are evidence, and so is the number they name.
        raise ServiceError(
            "number_in_use",
            f"{phone_number.national} has texts or history on this record, so it stays as part of the record. "
            "Mark another number as primary instead.",
            field="number",
        ) from exc
    if was_primary:
        successor = PhoneNumber.objects.filter(**of_owner).order_by("created_at", "id").first()
        if successor:
            _primary_move(successor)
