"""Reads for the messaging side, inside one organization: conversations, inbound lists, the text panel."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.prepared import prepared_cursor
from interactions.models import Consent, ConsentEvent, Customer, Lead, Organization, PhoneNumber
from interactions.selectors import consents_by_number, numbers_with_consent

from ..compliance.engine import closes_at, recipient_rules, send_refusal, texts_counted_by_number
from ..models import Message, MessageTemplate, UnsubscribeLink


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


@dataclass(frozen=True)
class SendState:
    """What every send reads of the number it goes to (``number_send_state``)."""

    consent_status: str | None  # Consent.Status, or None: nothing on record
    link_token: str | None  # the number's unsubscribe token; None until its first text
    open_request: int | None  # the oldest ``inbound_flagged`` reply from the number, if any


@functools.cache
def _number_send_state_sql() -> str:
    consent, link = Consent._meta.db_table, UnsubscribeLink._meta.db_table
    message, event = Message._meta.db_table, ConsentEvent._meta.db_table
    # The open request is ``inbound_flagged`` written out: flagged, not dismissed, and no revoke
    # of the number recorded at or after the reply arrived. tests/messaging/test_send_state.py
    # holds the two to the same answers. The constants are written into the text, so that the
    # prepared statement's generic plan can still prove the partial index ``message_open_flag_idx``
    # applies (a parameter could be anything).
    inbound, revoke = Message.Direction.INBOUND.value, ConsentEvent.Action.REVOKE.value
    assert inbound.isalpha() and revoke.isalpha()  # plain words: nothing to quote
    return f"""
        SELECT c.status,
            (SELECT l.token FROM {link} l WHERE l.organization_id = c.organization_id AND l.number = c.number),
            (SELECT m.id FROM {message} m
              WHERE m.organization_id = c.organization_id AND m.from_number = c.number
                AND m.direction = '{inbound}' AND m.flagged_opt_out_request AND m.flag_dismissed_at IS NULL
                AND NOT EXISTS (
                  SELECT 1 FROM {event} e
                   WHERE e.organization_id = m.organization_id AND e.number = m.from_number AND e.action = '{revoke}'
                     AND e.created_at >= COALESCE(m.received_at, m.created_at))
              ORDER BY m.id LIMIT 1)
          FROM {consent} c
         WHERE c.organization_id = %s AND c.number = %s"""


def number_send_state(*, organization_id: int, number) -> SendState:
    """The number's consent status, unsubscribe token and oldest open stop request, in one query.

    Every text pays for this read, so it is written in SQL rather than built by the ORM (whose
    compilation of the nested subqueries cost more than everything else of a send together,
    bench/README.md). One row per (organization, number) at most: ``consent_unique_per_number``
    and ``unsubscribe_link_unique_per_number``; the partial index ``message_open_flag_idx`` holds
    only unresolved flags, so the open-request subquery reads nothing in the common case.
    """
    e164 = Consent._meta.get_field("number").get_prep_value(number)
    with prepared_cursor() as cursor:
        cursor.execute(_number_send_state_sql(), [organization_id, e164])
        row = cursor.fetchone()
    return SendState(*row) if row else SendState(None, None, None)


def flagged_reply_for(*, organization: Organization, pk: int | str) -> Message | None:
    """One flagged inbound reply of ``organization`` (handled or not), with its record, or ``None``."""
    return _inbound(organization).filter(flagged_opt_out_request=True, pk=pk).first()


def inbound_unmatched(organization: Organization) -> QuerySet[Message]:
    """Replies from numbers that no lead or customer of the organization holds, newest first.

    Saving the number on a record takes its texts off this list (and onto that record's card).
    """
    held = PhoneNumber.objects.filter(organization=OuterRef("organization"), number=OuterRef("from_number"))
    return _inbound(organization).exclude(Exists(held))


def unsubscribe_link_by_token(*, token: str) -> UnsubscribeLink | None:
    """The link behind ``/u/<token>``, with its organization, or ``None``."""
    if not token or len(token) > 32:
        return None
    return UnsubscribeLink.objects.select_related("organization").filter(token=token).first()


def phone_number_for(*, organization: Organization, pk: int | str, consent: bool = True) -> PhoneNumber | None:
    """A phone number of ``organization`` with its owner and ``consent`` loaded, or ``None``.

    ``consent=False``: without ``consent``, for a caller that reads the owner's numbers with theirs."""
    phone = (
        PhoneNumber.objects.filter(organization=organization, pk=pk)
        .select_related(
            "organization", "lead__facility", "lead__organization", "customer__facility", "customer__organization"
        )
        .first()
    )
    if phone is None or not consent:
        return phone
    numbers_with_consent(organization=organization, numbers=[phone])
    return phone


def active_templates_for(*, organization: Organization) -> list[MessageTemplate]:
    """The organization's switched-on templates, by category then name."""
    return list(MessageTemplate.objects.filter(organization=organization, active=True).order_by("category", "name"))


def template_for(*, organization: Organization, pk: int | str) -> MessageTemplate | None:
    """One of the organization's templates (active or not: choosing an inactive one says so)."""
    try:
        return MessageTemplate.objects.filter(organization=organization, pk=int(pk)).first()
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class TextingNow:
    """Whether a person's primary number may be texted at this moment, as the home list shows it."""

    local_time: datetime | None  # the person's local time (their number's zone), None without a number
    allowed: bool
    reason: str  # a few plain words: "until 9:00 PM", "quiet hours until 8:00 AM", "no text permission"

    @property
    def clock(self) -> str:
        """The person's local time with its zone ("7:05 PM CST"); templates would show it in the server's zone."""
        return f"{self.local_time:%-I:%M %p} {self.local_time.tzname()}" if self.local_time else ""


def texting_now(
    *, organization: Organization, people: list[Lead | Customer], now: datetime | None = None
) -> dict[str, TextingNow]:
    """For each person (keyed ``"<kind>-<pk>"``), can their primary number be texted now, and why not.

    Two queries at most (the consent rows of the primary numbers, and the last day's texts to
    the numbers a cap applies to); expects ``phone_numbers`` prefetched primary first, as
    ``interactions.selectors.people_search`` returns them. The rules are the send check's own
    (``messaging.compliance.engine``): the person's state by address and area code, the organization's hours.
    """
    now = now or timezone.now()
    primaries = {f"{p.kind}-{p.pk}": (p, next(iter(p.phone_numbers.all()), None)) for p in people}
    consents = consents_by_number(organization=organization, numbers=[n for _, n in primaries.values() if n])
    recipients = {
        key: recipient_rules(organization=organization, number=phone.number, facility=person.facility, owner=person)
        for key, (person, phone) in primaries.items()
        if phone is not None
    }
    capped = [primaries[key][1].number for key, r in recipients.items() if r.cap is not None]
    sent = texts_counted_by_number(organization=organization, numbers=capped, until=now) if capped else {}
    result: dict[str, TextingNow] = {}
    for key, (_, phone) in primaries.items():
        if phone is None:
            result[key] = TextingNow(None, False, "no number")
            continue
        recipient = recipients[key]
        local = now.astimezone(recipient.tz)
        consent = consents.get(phone.e164)
        refusal = send_refusal(recipient=recipient, at=now, sent=sent.get(phone.e164, []))
        if consent is None or consent.status != Consent.Status.GRANTED:
            opted_out = consent is not None and consent.status == Consent.Status.REVOKED
            result[key] = TextingNow(local, False, "opted out" if opted_out else "no text permission")
        elif refusal is not None and refusal.next_allowed_at is None:
            result[key] = TextingNow(local, False, "never inside your texting hours")
        elif refusal is not None:
            opens = refusal.next_allowed_at.astimezone(recipient.tz)
            word = "quiet hours" if refusal.code == "quiet_hours" else "daily cap reached"
            result[key] = TextingNow(local, False, f"{word} until {opens:%-I:%M %p}")
        else:
            end = closes_at(recipient=recipient, at=now)
            result[key] = TextingNow(local, True, f"until {end:%-I:%M %p}")
    return result


# What a failed text's provider-neutral reason means, for the admin's failure counts.
FAILURE_WORDS = {
    "recipient_opted_out": "opted out at the carrier",
    "invalid_number": "not a valid or known number",
    "unreachable": "phone unreachable",
    "landline": "landline",
    "filtered": "filtered as spam",
    "sender_not_registered": "sender not registered",
    "rate_limited": "rate limited",
    "provider_unavailable": "provider unavailable",
    "no_sender": "no sender configured",
    "refused": "refused",
    "unknown": "unknown",
}


@dataclass(frozen=True)
class FacilityFailures:
    facility: str
    counts: list[tuple[str, int]]  # (reason in words, texts), most first

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)


def failed_texts_by_facility(
    *, organization: Organization | None, days: int = 7, now: datetime | None = None
) -> list[FacilityFailures]:
    """Texts that failed or were not delivered in the last ``days`` days, counted per reason per facility.

    ``organization`` ``None``: every organization (a superuser's admin). One grouped query.
    """
    now = now or timezone.now()
    failed = Message.objects.annotate(failed_on=Coalesce("failed_at", "updated_at")).filter(
        direction=Message.Direction.OUTBOUND,
        status__in=[Message.Status.FAILED, Message.Status.UNDELIVERED],
        failed_on__gte=now - timedelta(days=days),
    )
    if organization is not None:
        failed = failed.filter(organization=organization)
    rows = failed.values("facility__name", "error_code").annotate(texts=Count("id")).order_by("facility__name")
    by_facility: dict[str, dict[str, int]] = {}
    for row in rows:
        reason = Message(error_code=row["error_code"]).failure_reason or "unknown"
        words = FAILURE_WORDS.get(reason, reason.replace("_", " "))
        counts = by_facility.setdefault(row["facility__name"] or "(no facility)", {})
        counts[words] = counts.get(words, 0) + row["texts"]
    return [
        FacilityFailures(facility=name, counts=sorted(counts.items(), key=lambda c: (-c[1], c[0])))
        for name, counts in by_facility.items()
    ]
