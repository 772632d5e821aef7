"""Whether a number may be texted: the send's one read of it (``number_send_state``), the home list's
"Texting now" and the panel header's state. The rules are the send check's own (``messaging.compliance``)."""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import connection
from django.db.models import Field
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.formats import display_clock, display_moment
from interactions.models import Consent, ConsentEvent, Customer, Lead, Organization, PhoneNumber
from interactions.selectors import consents_by_number

from ..compliance.engine import (
    Recipient,
    Refusal,
    closes_at,
    recipient_rules,
    send_refusal,
    texts_counted,
    texts_counted_by_number,
)
from ..models import Message, UnsubscribeLink


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


def number_send_state(*, organization_id: int, number: str | ParsedNumber) -> SendState:
    """The number's consent status, unsubscribe token and oldest open stop request, in one query.

    Every text pays for this read, so it is written in SQL rather than built by the ORM (whose
    compilation of the nested subqueries cost more than everything else of a send together,
    bench/README.md). One row per (organization, number) at most: ``consent_unique_per_number``
    and ``unsubscribe_link_unique_per_number``; the partial index ``message_open_flag_idx`` holds
    only unresolved flags, so the open-request subquery reads nothing in the common case.
    """
    e164 = cast("Field[Any, Any]", Consent._meta.get_field("number")).get_prep_value(number)
    with connection.cursor() as cursor:
        cursor.execute(_number_send_state_sql(), [organization_id, e164])
        row = cursor.fetchone()
    return SendState(*row) if row else SendState(None, None, None)


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
    capped = [
        phone.number for key, (_, phone) in primaries.items() if phone is not None and recipients[key].cap is not None
    ]
    sent = texts_counted_by_number(organization=organization, numbers=capped, until=now) if capped else {}
    result: dict[str, TextingNow] = {}
    for key, (_, phone) in primaries.items():
        if phone is None:
            result[key] = TextingNow(None, False, "no number")
            continue
        consent = consents.get(phone.e164)
        result[key] = _texting_now_of(recipients[key], consent, sent=sent.get(phone.e164, []), now=now)
    return result


def _texting_now_of(
    recipient: Recipient, consent: Consent | None, *, sent: list[datetime], now: datetime
) -> TextingNow:
    """One primary number's line in the home list: its consent first, then the hours and the cap."""
    local = now.astimezone(recipient.tz)
    if consent is None or consent.status != Consent.Status.GRANTED:
        opted_out = consent is not None and consent.status == Consent.Status.REVOKED
        return TextingNow(local, False, "opted out" if opted_out else "no text permission")
    refusal = send_refusal(recipient=recipient, at=now, sent=sent)
    if refusal is not None:
        if refusal.next_allowed_at is None:
            return TextingNow(local, False, "never inside your texting hours")
        opens = refusal.next_allowed_at.astimezone(recipient.tz)
        word = "quiet hours" if refusal.code == "quiet_hours" else "daily cap reached"
        return TextingNow(local, False, f"{word} until {opens:%-I:%M %p}")
    end = closes_at(recipient=recipient, at=now)
    return TextingNow(local, True, f"until {end:%-I:%M %p}")


@dataclass(frozen=True)
class TextingState:
    """Whether one number may be texted at this moment, and why not, for the panel header."""

    local_time: datetime
    allowed: bool
    reason: str

    @property
    def clock(self) -> str:
        return f"{display_clock(self.local_time)} {self.local_time.tzname()}"


def _refusal_headline(refusal: Refusal, tz: zoneinfo.ZoneInfo) -> str:
    if refusal.next_allowed_at is None:
        return "Can’t be texted: the organization’s hours never meet the law’s"
    opens = refusal.next_allowed_at.astimezone(tz)
    if refusal.code == "frequency_cap":
        return f"Daily limit reached: can text from {display_moment(opens)} their time"
    return f"Quiet hours: can text from {display_clock(opens)} their time"


def texting_state(
    *, phone: PhoneNumber, open_request: Message | None = None, now: datetime | None = None
) -> TextingState:
    """The same checks the send makes (consent, the texting laws' hours), plus an open plain-words request.

    Hours and caps come from the compliance engine's ``send_refusal`` (federal, the person's state by
    address and area code, the organization's own), over the texts that count towards a cap now.
    """
    now = now or timezone.now()
    owner = phone.owner
    recipient = recipient_rules(
        organization=phone.organization, number=phone.number, facility=owner.facility, owner=owner
    )
    local = now.astimezone(recipient.tz)
    consent = getattr(phone, "consent", None)
    if consent is None or consent.status != Consent.Status.GRANTED:
        opted_out = consent is not None and consent.status == Consent.Status.REVOKED
        return TextingState(local, False, "Opted out: can’t be texted" if opted_out else "No text permission")
    if open_request is not None:
        return TextingState(local, False, "Asked not to be texted: resolve the request first")
    # The send's own check (hours and the 24-hour caps), over the texts that count now: the header
    # never says "Can text now" when Send would be refused. Counted only where a cap applies, as the send does.
    sent = texts_counted(organization=phone.organization, number=phone.number, until=now) if recipient.cap else []
    refusal = send_refusal(recipient=recipient, at=now, sent=sent)
    if refusal is not None:
        return TextingState(local, False, _refusal_headline(refusal, recipient.tz))
    end = closes_at(recipient=recipient, at=now)
    return TextingState(local, True, f"Can text now, until {display_clock(end)} their time")
