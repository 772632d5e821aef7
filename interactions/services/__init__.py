"""Every write to CRM records, phone numbers, consent and history goes through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from phonenumber_field.phonenumber import to_python

from core.errors import ServiceError
from core.formats import display_date
from core.phonenumbers import readable

from ..models import Consent, ConsentEvent, Customer, Facility, History, Lead, Membership, Organization, PhoneNumber
from ..signals import (
    announce_on_commit,
    consent_changed,
    customer_balance_changed,
    lead_changed,
    number_opted_out,
    phone_number_saved,
)

Owner = Lead | Customer


def user_display_name(user: AbstractBaseUser | None) -> str:
    """How a person who acted is named on records: full name, else username; '' for the system."""
    if user is None or not user.is_authenticated:
        return ""
    return (user.get_full_name() or user.get_username())[:300]


# --- phone numbers -------------------------------------------------------------------------


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


def owner_kwargs(owner: Owner) -> dict[str, Owner]:
    """The filter/create keyword that points at ``owner``: ``{"lead": …}`` or ``{"customer": …}``."""
    return {"lead": owner} if isinstance(owner, Lead) else {"customer": owner}


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
    of_owner.exclude(pk=phone_number.pk).filter(is_primary=True).update(is_primary=False)
    of_owner.filter(pk=phone_number.pk).update(is_primary=True)
    phone_number.is_primary = True


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
    *, phone_number: PhoneNumber, agent: AbstractBaseUser | None, note: str = "", now: datetime | None = None
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


# --- facility senders -------------------------------------------------------------------------


def facility_sender_flag(*, facility: Facility, reason: str, now: datetime | None = None) -> Facility:
    """The carrier refused a text because the facility's sender is not registered or verified.

    The facility's sender becomes ``unregistered``: every next text from it is refused with
    ``sender_not_registered`` until a manager records the registration (``facility_sender_register``).
    """
    now = now or timezone.now()
    Facility.objects.filter(pk=facility.pk).update(
        sender_registration=Facility.Registration.UNREGISTERED, sender_flagged_at=now, sender_flag_reason=reason[:300]
    )
    facility.sender_registration = Facility.Registration.UNREGISTERED
    facility.sender_flagged_at, facility.sender_flag_reason = now, reason[:300]
    return facility


def facility_sender_register(
    *,
    facility: Facility,
    registration: str,
    brand_id: str = "",
    campaign_id: str = "",
    toll_free_verification_id: str = "",
) -> Facility:
    """Record the registration of a facility's sender (10DLC brand and campaign, or toll-free verification).

    Approved needs either a brand and a campaign id or a toll-free verification id. Any new status
    clears the carrier's flag: the manager has acted.
    """
    if registration not in Facility.Registration.values:
        raise ServiceError(
            "invalid_registration",
            f"Choose a registration status: {', '.join(Facility.Registration.values)}.",
            field="sender_registration",
        )
    brand_id, campaign_id, toll_free = brand_id.strip(), campaign_id.strip(), toll_free_verification_id.strip()
    if registration == Facility.Registration.APPROVED and not ((brand_id and campaign_id) or toll_free):
        raise ServiceError(
            "registration_incomplete",
            "An approved sender needs its 10DLC brand id and campaign id, or its toll-free verification id.",
            field="sender_campaign_id",
        )
    facility.sender_registration = registration
    facility.sender_brand_id, facility.sender_campaign_id = brand_id, campaign_id
    facility.sender_toll_free_verification_id = toll_free
    facility.sender_flagged_at, facility.sender_flag_reason = None, ""
    if facility.pk:
        facility.save(
            update_fields=[
                "sender_registration",
                "sender_brand_id",
                "sender_campaign_id",
                "sender_toll_free_verification_id",
                "sender_flagged_at",
                "sender_flag_reason",
            ]
        )
    return facility


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


# --- consent ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentState:
    """The consent of one number, as cards, the API and the messaging service read it."""

    number: str
    status: str  # granted | revoked | none
    source: str | None = None
    at: datetime | None = None
    person_opted_out_at: datetime | None = None
    evidence: str = ""  # the latest event's note (why an agent opted the number out, …)
    actor_name: str = ""  # who recorded the latest event, when a person did

    @property
    def agent_opted_out(self) -> bool:
        """An agent recorded the opt-out (the person did not): an agent may record permission again."""
        return self.status == Consent.Status.REVOKED and self.source == ConsentEvent.Source.AGENT

    @property
    def is_granted(self) -> bool:
        return self.status == Consent.Status.GRANTED

    @property
    def is_revoked(self) -> bool:
        """Permission was withdrawn (by the person, an agent or the API): never texted until granted again."""
        return self.status == Consent.Status.REVOKED

    @property
    def person_opted_out(self) -> bool:
        return self.person_opted_out_at is not None


def consent_status(*, organization: Organization, number: str | ParsedNumber) -> ConsentState:
    """The current consent of ``number`` in ``organization`` (``none`` if nothing was recorded)."""
    parsed = phone_number_parse(number)
    row = Consent.objects.filter(organization=organization, number=parsed).select_related("last_event__actor").first()
    if row is None:
        return ConsentState(number=parsed.as_e164, status=Consent.Status.NONE)
    return consent_state_from_row(row)


def consent_state_from_row(row: Consent) -> ConsentState:
    """The state of a ``Consent`` row loaded with ``select_related("last_event__actor")``."""
    event = row.last_event
    return ConsentState(
        number=row.number.as_e164,
        status=row.status,
        source=event.source,
        at=event.created_at,
        person_opted_out_at=row.person_opted_out_at,
        evidence=event.evidence,
        actor_name=event.actor_name,
    )


def _record(
    *,
    organization: Organization,
    number: ParsedNumber,
    action: str,
    source: str,
    actor: AbstractBaseUser | None,
    evidence: str,
    ip_address: str | None,
    user_agent: str,
) -> tuple[ConsentEvent, Consent]:
    current = Consent.objects.select_for_update().filter(organization=organization, number=number).first()
    actor = actor if actor is not None and actor.is_authenticated else None
    event = ConsentEvent.objects.create(
        organization=organization,
        number=number,
        action=action,
        source=source,
        actor=actor,
        actor_name=user_display_name(actor),
        evidence=evidence,
        ip_address=ip_address or None,
        user_agent=(user_agent or "")[:400],
    )
    status = Consent.Status.GRANTED if action == ConsentEvent.Action.GRANT else Consent.Status.REVOKED
    if event.is_person_opt_out:
        opted_out_at = current.person_opted_out_at if current and current.person_opted_out_at else event.created_at
    elif action == ConsentEvent.Action.GRANT:
        opted_out_at = None
    else:
        opted_out_at = current.person_opted_out_at if current else None
    if current is None:
        current = Consent.objects.create(
            organization=organization, number=number, status=status, last_event=event, person_opted_out_at=opted_out_at
        )
    else:
        current.status, current.last_event, current.person_opted_out_at = status, event, opted_out_at
        current.save(update_fields=["status", "last_event", "person_opted_out_at", "updated_at"])
    _touch_holders(organization=organization, number=number, at=event.created_at)
    announce_on_commit(consent_changed, ConsentEvent, organization=organization, number=number, event=event)
    return event, current


def _touch_holders(*, organization: Organization, number: ParsedNumber, at: datetime) -> None:
    """Bump ``updated_at`` of the number and of everyone holding it: integrators polling with
    ``updated_since`` see the consent change on the person and the number."""
    holders = PhoneNumber.objects.filter(organization=organization, number=number)
    lead_ids = [pk for pk in holders.values_list("lead_id", flat=True) if pk]
    customer_ids = [pk for pk in holders.values_list("customer_id", flat=True) if pk]
    holders.update(updated_at=at)
    if lead_ids:
        Lead.objects.filter(pk__in=lead_ids).update(updated_at=at)
    if customer_ids:
        Customer.objects.filter(pk__in=customer_ids).update(updated_at=at)


def _check_source(source: str, allowed: frozenset[str], done: str) -> None:
    if source not in ConsentEvent.Source.values:
        raise ServiceError("invalid_source", f"Unknown consent source “{source}”.", field="source")
    if source not in allowed:
        choices = ", ".join(sorted(allowed))
        raise ServiceError(
            "invalid_source", f"Consent can’t be {done} by “{source}”; use one of: {choices}.", field="source"
        )


@transaction.atomic
def consent_grant(
    *,
    organization: Organization,
    number: str | ParsedNumber,
    source: str,
    actor: AbstractBaseUser | None = None,
    evidence: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    """Record text permission for a number.

    After the person opted out themselves (STOP, the unsubscribe link, or the carrier telling
    us the number unsubscribed) only their own START may grant again.
    """
    parsed = phone_number_parse(number, field="phone_number")
    _check_source(source, ConsentEvent.GRANT_SOURCES, "granted")
    if source in (ConsentEvent.Source.AGENT, ConsentEvent.Source.API) and not evidence.strip():
        raise ServiceError(
            "evidence_required",
            "Say how the person gave permission (for example “verbal on call, 3:10 pm”).",
            field="evidence",
        )
    current = Consent.objects.select_for_update().filter(organization=organization, number=parsed).first()
    if current and current.person_opted_out_at and source != ConsentEvent.Source.SMS_KEYWORD:
        when = display_date(current.person_opted_out_at)
        raise ServiceError(
            "opted_out",
            f"{readable(parsed)} opted out on {when}. Only the person can opt back in, by texting START to us.",
            field="phone_number",
            status=409,
            opted_out_at=current.person_opted_out_at,
        )
    event, _ = _record(
        organization=organization,
        number=parsed,
        action=ConsentEvent.Action.GRANT,
        source=source,
        actor=actor,
        evidence=evidence,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    return event


@transaction.atomic
def consent_revoke(
    *,
    organization: Organization,
    number: str | ParsedNumber,
    source: str,
    actor: AbstractBaseUser | None = None,
    evidence: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    """Record that a number must not be texted. Always allowed; repeated revokes are logged too.

    An agent says why (the note is the ledger's evidence, as for an agent's grant). An agent's
    revoke does not stop a later agent grant: only the person's own opt-out does that. The
    follow-up workflows of everyone the number belongs to end with it.
    """
    parsed = phone_number_parse(number, field="phone_number")
    _check_source(source, ConsentEvent.REVOKE_SOURCES, "revoked")
    if source == ConsentEvent.Source.AGENT and not evidence.strip():
        raise ServiceError(
            "evidence_required",
            "Say why this number must not be texted (for example “asked on the phone”).",
            field="evidence",
        )
    # Locked before it is read: of two opt-outs at once, only the first finds it not yet revoked.
    current = Consent.objects.select_for_update().filter(organization=organization, number=parsed).first()
    was_revoked = current is not None and current.status == Consent.Status.REVOKED
    event, _ = _record(
        organization=organization,
        number=parsed,
        action=ConsentEvent.Action.REVOKE,
        source=source,
        actor=actor,
        evidence=evidence,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    number_opted_out.send(
        sender=ConsentEvent, organization=organization, number=parsed, event=event, was_revoked=was_revoked
    )
    return event


# --- history ------------------------------------------------------------------------------


def history_record(
    *,
    owner: Owner,
    kind: str,
    summary: str,
    agent: AbstractBaseUser | None = None,
    phone_number: PhoneNumber | None = None,
    occurred_at: datetime | None = None,
) -> History:
    """Add an entry to a lead's or customer's history."""
    entry = history_entry(
        owner=owner, kind=kind, summary=summary, agent=agent, phone_number=phone_number, occurred_at=occurred_at
    )
    entry.save(force_insert=True)
    return entry


def history_entry(
    *,
    owner: Owner,
    kind: str,
    summary: str,
    agent: AbstractBaseUser | None = None,
    phone_number: PhoneNumber | None = None,
    occurred_at: datetime | None = None,
) -> History:
    """The entry ``history_record`` adds, not saved yet: for a caller that saves it in one statement
    with a row of its own (``core.prepared.insert_together``)."""
    return History(
        organization_id=owner.organization_id,
        kind=kind,
        summary=summary,
        agent=agent if agent is not None and agent.is_authenticated else None,
        actor_name=user_display_name(agent),
        phone_number=phone_number,
        occurred_at=occurred_at or timezone.now(),
        **owner_kwargs(owner),
    )


def history_record_on_number(
    *, phone_number: PhoneNumber, kind: str, summary: str, occurred_at: datetime | None = None
) -> History:
    """Add an entry (not an agent's) to the history of whoever holds ``phone_number``.

    ``history_record`` without loading the lead or customer: the number's own ids say whose it is.
    """
    entry = history_entry_on_number(phone_number=phone_number, kind=kind, summary=summary, occurred_at=occurred_at)
    entry.save(force_insert=True)
    return entry


def history_entry_on_number(
    *, phone_number: PhoneNumber, kind: str, summary: str, occurred_at: datetime | None = None
) -> History:
    """The entry ``history_record_on_number`` adds, not saved yet (see ``history_entry``)."""
    return History(
        organization_id=phone_number.organization_id,
        lead_id=phone_number.lead_id,
        customer_id=phone_number.customer_id,
        kind=kind,
        summary=summary,
        phone_number=phone_number,
        occurred_at=occurred_at or timezone.now(),
    )


# --- leads and customers --------------------------------------------------------------------


@transaction.atomic
def person_archive(*, person: Owner, actor: AbstractBaseUser | None = None) -> Owner:
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


def _check_facility(*, organization_id: int, facility) -> None:
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
    *, organization: Organization, facility, first_name: str, numbers: Sequence[NewNumber] = (), **fields
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
def lead_update(*, lead: Lead, **changes) -> Lead:
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
    *, organization: Organization, facility, first_name: str, pms_id: str, numbers: Sequence[NewNumber] = (), **fields
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
def customer_update(*, customer: Customer, **changes) -> Customer:
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


# --- people of an organization ----------------------------------------------------------------


@transaction.atomic
def membership_create(
    *,
    organization: Organization,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    role: str = Membership.Role.AGENT,
) -> Membership:
    """Create a user account inside ``organization`` with its role.

    Managers add people this way only: a new account, never an existing user of the install
    (who might be a superuser or belong to nobody yet), so nobody is pulled into an organization.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    User = get_user_model()
    if role not in Membership.Role.values:
        raise ServiceError("invalid_role", f"Choose a role: {', '.join(Membership.Role.values)}.", field="role")
    username = (username or "").strip()
    if not username:
        raise ServiceError("required", "Enter a username.", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError(
            "duplicate_username", f"The username “{username}” is taken; choose another.", field="username"
        )
    user = User(username=username, email=(email or "").strip(), first_name=first_name, last_name=last_name)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError("weak_password", " ".join(exc.messages), field="password") from exc
    user.is_staff = True  # members use the admin for templates, the ledger and the message log
    user.set_password(password)
    user.save()
    return Membership.objects.create(user=user, organization=organization, role=role)
