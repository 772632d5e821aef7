"""Inbound texts: the replies that wait for an agent (a flagged plain-words request, a text from an unknown
number) and where an incoming text belongs (its organization, its record)."""

from __future__ import annotations

from typing import Any, cast

import phonenumbers
from django.conf import settings
from django.db.models import Exists, Field, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.phonenumbers import is_valid
from interactions.models import ConsentEvent, Facility, Organization, PhoneNumber

from ..models import Message


def _inbound(organization: Organization) -> QuerySet[Message]:
    return Message.objects.filter(organization=organization, direction=Message.Direction.INBOUND).select_related(
        "lead", "customer", "phone_number", "facility"
    )


def _still_waiting(replies: QuerySet[Message]) -> QuerySet[Message]:
    """The flagged replies among ``replies`` that no agent resolved and no later opt-out answered."""
    handled = ConsentEvent.objects.filter(
        organization=OuterRef("organization"),
        number=OuterRef("from_number"),
        action=ConsentEvent.Action.REVOKE,
        created_at__gte=Coalesce(OuterRef("received_at"), OuterRef("created_at")),
    )
    return replies.filter(
        direction=Message.Direction.INBOUND, flagged_opt_out_request=True, flag_dismissed_at__isnull=True
    ).exclude(Exists(handled))


def inbound_flagged(organization: Organization) -> QuerySet[Message]:
    """Replies that ask, in plain words, not to be texted and still wait for an agent, newest first.

    A flagged reply drops off once an opt-out of its number was recorded after it arrived (by an
    agent, the link, a keyword or the carrier): then there is nothing left to do.
    """
    return _still_waiting(_inbound(organization))


def flagged_reply_for(*, organization: Organization, pk: int | str) -> Message | None:
    """One flagged inbound reply of ``organization`` (handled or not), with its record, or ``None``."""
    return _inbound(organization).filter(flagged_opt_out_request=True, pk=pk).first()


def inbound_unmatched(organization: Organization) -> QuerySet[Message]:
    """Replies from numbers that no lead or customer of the organization holds, newest first.

    Saving the number on a record takes its texts off this list (and onto that record's card). Only
    texts filed under no record when they arrived can be here (a partial index holds just those,
    ``message_inbound_unmatched``): the list reads them, not every reply the organization received.
    """
    held = PhoneNumber.objects.filter(organization=OuterRef("organization"), number=OuterRef("from_number"))
    # No number record when it arrived (``phone_number`` is the record's number, set with the person):
    # one column, so PostgreSQL's estimate of how few these are holds.
    return _inbound(organization).filter(phone_number__isnull=True).exclude(Exists(held))


def open_requests(*, organization: Organization, numbers: list) -> dict[str, Message]:
    """Unresolved flagged replies ("please stop texting me") from ``numbers``: the latest per E.164.

    Resolved means an opt-out of the number was recorded after the reply arrived, or an agent
    marked it "not a request" with a note. The rule is ``inbound_flagged``'s, shared with /outstanding/.
    """
    parsed = [n.number if isinstance(n, PhoneNumber) else n for n in numbers]
    if not parsed:
        return {}
    # The panel shows a waiting reply's body and number: not its person, number record and facility,
    # which ``inbound_flagged`` joins for /outstanding/.
    waiting = inbound_flagged(organization).filter(from_number__in=parsed).select_related(None).order_by("created_at")
    return {m.from_number.as_e164: m for m in waiting}


# --- where an incoming text belongs ---------------------------------------------------------------


def inbound_number(raw: str) -> ParsedNumber | None:
    """A ``To`` or ``From`` of a webhook as a phone number; ``None`` for anything else (a short code, a name)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        parsed = ParsedNumber.from_string(raw, region=settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return parsed if is_valid(parsed) else None


# Every inbound text starts here. The sender number is unique across the install: at most one row,
# no ORDER BY (Meta's or first()'s); the number as stored (E.164).
def _facility_by_sender(number: str) -> list[Facility]:
    return list(Facility.objects.filter(sms_sender_number=number).select_related("organization").order_by()[:1])


def inbound_organization(
    *,
    to_number: str,
    from_number: str,
    messaging_service_sid: str = "",
    to: ParsedNumber | None = None,
    sender: ParsedNumber | None = None,
) -> tuple[Organization | None, Facility | None]:
    """Which organization (and facility, when known) an inbound text belongs to.

    1. ``To`` is a facility's sender number → that facility's organization (a sender number
       belongs to one facility across the install: a unique constraint).
    2. ``MessagingServiceSid`` is an organization's own messaging service → that organization.
    3. ``MessagingServiceSid`` is the install-wide ``TWILIO_MESSAGING_SERVICE_SID`` (shared by the
       organizations without their own) → the organization that last texted the sender through
       it; failing that, the only organization that has the sender's number on a record.
    Otherwise ``(None, None)``: there is nothing to attach the text to.
    ``to`` and ``sender`` are the numbers already parsed, when the caller has them.
    """
    to = to if to is not None else inbound_number(to_number)
    facility = _facility_by_sender_number(to) if to is not None else None
    if facility is not None:
        return facility.organization, facility
    sid = (messaging_service_sid or "").strip()
    if not sid:
        return None, None
    own = Organization.objects.filter(twilio_messaging_service_sid=sid).first()
    if own is not None:
        return own, None
    sender = sender if sender is not None else inbound_number(from_number)
    if sid != settings.TWILIO_MESSAGING_SERVICE_SID or sender is None:
        return None, None
    return _organization_on_the_shared_service(sender), None


def _facility_by_sender_number(to: ParsedNumber) -> Facility | None:
    field = cast("Field[Any, Any]", Facility._meta.get_field("sms_sender_number"))
    found = _facility_by_sender(field.get_prep_value(to))
    return found[0] if found else None


def _organization_on_the_shared_service(sender: ParsedNumber) -> Organization | None:
    """For the install-wide messaging service: the organization that last texted ``sender`` through it,
    else the only one holding the number."""
    last = (
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            to_number=sender,
            from_number="",  # sent through the messaging service, not from a facility number
            organization__twilio_messaging_service_sid="",
        )
        .select_related("organization")
        .order_by("-created_at", "-id")
        .first()
    )
    if last is not None:
        return last.organization
    holders = set(PhoneNumber.objects.filter(number=sender).values_list("organization_id", flat=True)[:2])
    return Organization.objects.get(pk=holders.pop()) if len(holders) == 1 else None


def inbound_number_holders(*, organization: Organization, sender: ParsedNumber | None) -> list[PhoneNumber]:
    """The numbers of ``organization``'s leads and customers that are ``sender``: their ids are all a
    reply's text and history entries need (no lead, customer or facility is joined)."""
    if sender is None:
        return []
    return list(PhoneNumber.objects.filter(organization=organization, number=sender).order_by("id"))


def inbound_linked_record(
    *, organization: Organization, sender: ParsedNumber | None, holders: list[PhoneNumber]
) -> PhoneNumber | None:
    """The record a reply belongs to: the one last texted from, else the only one holding the number."""
    if len(holders) <= 1:  # the last text can only point at the one holder (or at none): no need to ask
        return holders[0] if holders else None
    last = (
        Message.objects.filter(
            organization=organization,
            direction=Message.Direction.OUTBOUND,
            to_number=sender,
            phone_number__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values_list("phone_number_id", flat=True)
        .first()
    )
    return next((p for p in holders if p.pk == last), None)


def message_by_provider_sid(*, provider_sid: str) -> Message | None:
    """The text stored under a provider's id (unique: one at most, so no ORDER BY), or ``None``."""
    return next(iter(Message.objects.filter(provider_sid=provider_sid).order_by()[:1]), None)


# --- a simulated reply (``manage.py demo_reply`` and the panel's demo-only button) -------------------


def last_texted_number(*, organization: Organization | None = None) -> PhoneNumber | None:
    """The saved number most recently texted (in ``organization``, else anywhere), with its owner and
    facility: whom ``demo_reply`` makes answer when not told. ``None`` before anyone was texted."""
    texts = Message.objects.filter(direction=Message.Direction.OUTBOUND, phone_number__isnull=False)
    texts = texts.filter(sent_at__isnull=False)  # that went out: not one scheduled for tomorrow
    if organization is not None:
        texts = texts.filter(organization=organization)
    last = texts.order_by("-created_at", "-id").values_list("phone_number_id", flat=True).first()
    if last is None:
        return None
    return (
        PhoneNumber.objects.select_related("organization", "lead__facility", "customer__facility")
        .filter(pk=last)
        .first()
    )


def reply_route(phone: PhoneNumber) -> tuple[str, str]:
    """Where a reply from ``phone`` arrives, as Twilio would post it: ``(To, MessagingServiceSid)``.

    The number the person was last texted from; else their facility's sender number; else the
    organization's messaging service, or the install's. ``("", "")`` when nothing would route it.
    """
    last = (
        Message.objects.filter(organization_id=phone.organization_id, to_number=phone.number)
        .filter(direction=Message.Direction.OUTBOUND)
        .exclude(from_number="")
        .order_by("-created_at", "-id")
        .values_list("from_number", flat=True)
        .first()
    )
    if last:
        return str(last), ""
    facility = phone.owner.facility
    if facility.sms_sender_number:
        return str(facility.sms_sender_number), ""
    service = phone.organization.twilio_messaging_service_sid or settings.TWILIO_MESSAGING_SERVICE_SID
    return "", service or ""
