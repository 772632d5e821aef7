"""Reads for a person's conversation (all their numbers, texts and events) and for the inbox.

A conversation belongs to a person, not to one number: the panel shows every text to and from
each of their numbers, labelled with the number, and the ledger's and history's events in
between (opted out and how, permission recorded, enrolled, task done).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import CharField, Count, ExpressionWrapper, F, Max, Q, QuerySet
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from phonenumber_field.phonenumber import to_python as stored_number  # what loading the column does

from core.formats import display_clock
from core.phonenumbers import readable
from interactions.models import Consent, ConsentEvent, Customer, History, Lead, Organization, PhoneNumber
from interactions.selectors import consents_by_number, owner_numbers

from ..compliance.engine import closes_at, next_allowed_at, recipient_rules
from ..models import Conversation, Message

THREAD_LIMIT = 60


def owner_filter(person: Lead | Customer) -> dict:
    return {"lead": person} if isinstance(person, Lead) else {"customer": person}


def _person_messages(*, person: Lead | Customer, numbers: list[PhoneNumber]) -> QuerySet[Message]:
    parsed = [n.number for n in numbers if n.number]
    match = Q(**owner_filter(person))
    if parsed:
        match |= Q(direction=Message.Direction.OUTBOUND, to_number__in=parsed)
        match |= Q(direction=Message.Direction.INBOUND, from_number__in=parsed)
    return Message.objects.filter(match, organization_id=person.organization_id)


# --- the thread --------------------------------------------------------------------------------


@dataclass
class ThreadItem:
    """One line of the thread: a text (``message``) or an event (``event``: a sentence)."""

    at: datetime
    message: Message | None = None
    event: str = ""
    event_kind: str = ""  # consent-in | consent-out | note
    number_label: str = ""


def _number_label(numbers: dict[str, PhoneNumber], number) -> str:
    """``number``: parsed, or as the column stores it (E.164 text, how ``thread_messages`` reads it)."""
    if isinstance(number, str):
        phone = numbers.get(number)
        if phone is not None:  # a number on the record: its stored E.164 is the key, nothing to parse
            return f"{phone.national} · {phone.get_label_display()}"
        number = stored_number(number)
    phone = numbers.get(getattr(number, "as_e164", str(number)))
    if phone is None:  # a number not on the record: written as every number is (abroad: international)
        return readable(number) if isinstance(number, ParsedNumber) else str(number)
    return f"{phone.national} · {phone.get_label_display()}"


def _number_key(number) -> tuple:
    """What a number's formatting depends on (formatting with phonenumbers is slow; comparing this is not)."""
    if isinstance(number, phonenumbers.PhoneNumber):
        return (
            number.country_code,
            number.national_number,
            number.italian_leading_zero,
            number.number_of_leading_zeros,
            number.extension,
        )
    return ("raw", str(number))


def _consent_sentence(event: ConsentEvent, label: str) -> str:
    how = {
        ConsentEvent.Source.SMS_KEYWORD: "by texting a keyword",
        ConsentEvent.Source.UNSUBSCRIBE_LINK: "through the unsubscribe link",
        ConsentEvent.Source.CARRIER: "(the carrier reports the number unsubscribed)",
        ConsentEvent.Source.AGENT: "recorded by an agent",
        ConsentEvent.Source.API: "through the API",
        ConsentEvent.Source.WEB_FORM: "on a web form",
        ConsentEvent.Source.PMS_IMPORT: "from the PMS import",
    }.get(event.source, event.get_source_display())
    who = ""
    if event.actor_id:
        who = f" by {event.actor.get_full_name() or event.actor.get_username()}"
        how = "recorded" if event.source == ConsentEvent.Source.AGENT else how
    note = f": {event.evidence}" if event.evidence and event.source in (ConsentEvent.Source.AGENT,) else ""
    if event.action == ConsentEvent.Action.REVOKE:
        return f"{label} opted out {how}{who}{note}"
    return f"Text permission for {label} {how}{who}{note}"


# The number columns as stored (E.164 text): loading them as numbers would parse two per text with
# phonenumbers, and the thread only needs them to look up each text's label.
_RAW_NUMBERS = {
    "to_raw": ExpressionWrapper(F("to_number"), output_field=CharField()),
    "from_raw": ExpressionWrapper(F("from_number"), output_field=CharField()),
}


def thread_messages(*, person: Lead | Customer, numbers: list[PhoneNumber], limit: int = THREAD_LIMIT) -> list[Message]:
    """The person's latest ``limit`` texts across all ``numbers``, newest first (one read, shared by
    the thread and its version).

    ``to_number`` and ``from_number`` are not loaded as numbers: ``to_raw`` and ``from_raw`` hold
    them as stored. A flagged reply gets its ``from_number`` (its opt-out button names it); reading
    either on another text would load it with a query of its own.
    """
    texts = list(
        _person_messages(person=person, numbers=numbers)
        .select_related("sent_by", "flag_dismissed_by")
        .defer("to_number", "from_number")
        .annotate(**_RAW_NUMBERS)
        .order_by("-created_at", "-id")[:limit]
    )
    for text in texts:
        if text.flagged_opt_out_request:
            text.from_number = stored_number(text.from_raw)
    return texts


def person_thread(
    *,
    person: Lead | Customer,
    numbers: list[PhoneNumber],
    limit: int = THREAD_LIMIT,
    messages: list[Message] | None = None,
) -> list[ThreadItem]:
    """The latest texts and events of ``person`` across all ``numbers``, oldest first.

    Three reads (texts, the numbers' ledger, the person's workflow notes), each newest-first and
    limited, merged by time. ``messages``: the texts as ``thread_messages`` read them, if already read.
    """
    by_e164 = {n.e164: n for n in numbers}
    if messages is None:
        messages = thread_messages(person=person, numbers=numbers, limit=limit)
    labels: dict[tuple, str] = {}  # a thread is a few numbers many times: format each once

    def label_of(number) -> str:
        key = _number_key(number)
        if key not in labels:
            labels[key] = _number_label(by_e164, number)
        return labels[key]

    items = [
        ThreadItem(
            at=m.received_at or m.created_at,
            message=m,
            number_label=label_of(m.from_raw if m.direction == Message.Direction.INBOUND else m.to_raw),
        )
        for m in messages
    ]
    if by_e164:
        events = ConsentEvent.objects.filter(
            organization_id=person.organization_id, number__in=[n.number for n in numbers]
        ).select_related("actor")
        for event in events.order_by("-created_at", "-id")[:limit]:
            label = _number_label(by_e164, event.number)
            kind = "consent-out" if event.action == ConsentEvent.Action.REVOKE else "consent-in"
            items.append(ThreadItem(at=event.created_at, event=_consent_sentence(event, label), event_kind=kind))
    notes = (
        History.objects.filter(kind=History.Kind.NOTE, **owner_filter(person))
        .filter(
            Q(summary__startswith="Enrolled")
            | Q(summary__startswith="Left")
            | Q(summary__startswith="Skipped")
            | Q(summary__contains="done")
            | Q(summary__startswith="Not a request")
        )
        .order_by("-occurred_at", "-id")[:limit]
    )
    items += [ThreadItem(at=h.occurred_at, event=h.summary, event_kind="note") for h in notes]
    items.sort(key=lambda item: item.at)
    return items[-limit:]


def thread_version(
    *, person: Lead | Customer, numbers: list[PhoneNumber], messages: list[Message] | None = None
) -> str:
    """A fingerprint of everything the panel and the card show live: texts, their status, flags,
    the numbers' consent and the workflow notes. The poll answers 204 while it is unchanged.

    ``messages``: the latest texts as ``thread_messages`` read them (the same rows, so the same
    fingerprint), when the caller has them already."""
    if messages is not None:
        rows = [(m.id, m.status, m.error_code, m.flag_dismissed_at) for m in messages[:THREAD_LIMIT]]
    else:
        rows = list(
            _person_messages(person=person, numbers=numbers)
            .order_by("-created_at", "-id")
            .values_list("id", "status", "error_code", "flag_dismissed_at")[:THREAD_LIMIT]
        )
    consents = sorted(
        (row.number.as_e164, row.status, row.last_event_id)
        for row in Consent.objects.filter(
            organization_id=person.organization_id, number__in=[n.number for n in numbers]
        )
    )
    note = History.objects.filter(**owner_filter(person)).order_by("-id").values_list("id", flat=True).first()
    phones = sorted((n.pk, n.is_primary) for n in numbers)
    return hashlib.blake2b(repr((rows, consents, note, phones)).encode(), digest_size=8).hexdigest()


# --- open plain-words requests ----------------------------------------------------------------


def open_requests(*, organization: Organization, numbers: list) -> dict[str, Message]:
    """Unresolved flagged replies ("please stop texting me") from ``numbers``: the latest per E.164.

    Resolved means an opt-out of the number was recorded after the reply arrived, or an agent
    marked it "not a request" with a note.
    """
    from . import inbound_flagged  # one rule for "still waiting", shared with /outstanding/

    parsed = [n.number if isinstance(n, PhoneNumber) else n for n in numbers]
    if not parsed:
        return {}
    # The panel shows a waiting reply's body and number: not its person, number record and facility,
    # which ``inbound_flagged`` joins for /outstanding/.
    waiting = inbound_flagged(organization).filter(from_number__in=parsed).select_related(None).order_by("created_at")
    return {m.from_number.as_e164: m for m in waiting}


# --- what the panel header says ------------------------------------------------------------------


@dataclass(frozen=True)
class TextingState:
    """Whether one number may be texted at this moment, and why not, for the panel header."""

    local_time: datetime
    allowed: bool
    reason: str

    @property
    def clock(self) -> str:
        return f"{display_clock(self.local_time)} {self.local_time.tzname()}"


def texting_state(
    *, phone: PhoneNumber, open_request: Message | None = None, now: datetime | None = None
) -> TextingState:
    """The same checks the send makes (consent, the texting laws' hours), plus an open plain-words request.

    Hours come from the compliance engine (federal, the person's state by address and area code, the
    organization's own); a filled 24-hour cap is told by the send itself.
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
    opens = next_allowed_at(recipient=recipient, at=now)
    if opens is not None:
        return TextingState(
            local, False, f"Quiet hours: can text from {display_clock(opens.astimezone(recipient.tz))} their time"
        )
    end = closes_at(recipient=recipient, at=now)
    return TextingState(local, True, f"Can text now, until {display_clock(end)} their time")


# --- the inbox ----------------------------------------------------------------------------------


@dataclass
class InboxRow:
    person: Lead | Customer
    last_at: datetime
    last_inbound_at: datetime | None
    unread: bool
    assigned_to: object | None
    last_body: str = ""
    numbers: list = field(default_factory=list)


def _unread(last_inbound: datetime | None, read_at: datetime | None, answered_at: datetime | None = None) -> bool:
    """A reply is unread until an agent read the thread, or answered it (an agent's text after it)."""
    seen = max((t for t in (read_at, answered_at) if t is not None), default=None)
    return last_inbound is not None and (seen is None or last_inbound > seen)


_ANSWERED = Max("created_at", filter=Q(direction=Message.Direction.OUTBOUND, sent_by__isnull=False))


def _matching_owner_ids(organization: Organization, query: str) -> tuple[set[int], set[int]]:
    """Leads and customers whose name, number or any text matches ``query``.

    PostgreSQL searches text bodies with full-text search (words, stemmed); SQLite, which
    ``make run`` uses, matches the fragment.
    """
    query = query.strip()
    digits = "".join(ch for ch in query if ch.isdigit())
    people = Q(first_name__icontains=query) | Q(last_name__icontains=query)
    parts = query.split()
    if len(parts) >= 2:
        people |= Q(first_name__icontains=parts[0], last_name__icontains=" ".join(parts[1:]))
    if len(digits) >= 3:
        people |= Q(phone_numbers__number__contains=digits)
    leads = set(Lead.objects.filter(people, organization=organization).values_list("pk", flat=True))
    customers = set(Customer.objects.filter(people, organization=organization).values_list("pk", flat=True))
    texts = Message.objects.filter(organization=organization)
    if connection.vendor == "postgresql":
        texts = texts.annotate(search=SearchVector("body", config="english")).filter(
            search=SearchQuery(query, config="english", search_type="websearch")
        )
    else:
        texts = texts.filter(body__icontains=query)
    for lead_id, customer_id in texts.values_list("lead_id", "customer_id")[:500]:
        if lead_id:
            leads.add(lead_id)
        if customer_id:
            customers.add(customer_id)
    return leads, customers


def inbox(*, organization: Organization, user, show: str = "all", query: str = "", limit: int = 100) -> list[InboxRow]:
    """Conversations with texts, unread replies first, then the latest activity first.

    ``show`` is ``mine`` (assigned to ``user``), ``unassigned`` or ``all``; ``query`` matches
    names, numbers and text bodies.
    """
    texts = Message.objects.filter(organization=organization).filter(Q(lead__isnull=False) | Q(customer__isnull=False))
    if query.strip():
        leads, customers = _matching_owner_ids(organization, query)
        texts = texts.filter(Q(lead_id__in=leads) | Q(customer_id__in=customers))
    grouped = (
        texts.values("lead_id", "customer_id")
        .annotate(
            last_at=Max("created_at"),
            last_inbound_at=Max("created_at", filter=Q(direction=Message.Direction.INBOUND)),
            answered_at=_ANSWERED,
            count=Count("id"),
        )
        .order_by("-last_at")[:500]
    )
    rows = list(grouped)
    states = {
        (c.lead_id, c.customer_id): c
        for c in Conversation.objects.filter(organization=organization).select_related("assigned_to")
    }
    lead_map = Lead.objects.select_related("facility").in_bulk([r["lead_id"] for r in rows if r["lead_id"]])
    customer_map = Customer.objects.select_related("facility").in_bulk(
        [r["customer_id"] for r in rows if r["customer_id"]]
    )
    result: list[InboxRow] = []
    for r in rows:
        person = lead_map.get(r["lead_id"]) if r["lead_id"] else customer_map.get(r["customer_id"])
        if person is None:
            continue
        state = states.get((r["lead_id"], r["customer_id"]))
        assigned = state.assigned_to if state else None
        if show == "mine" and (state is None or state.assigned_to_id != user.pk):
            continue
        if show == "unassigned" and state is not None and state.assigned_to_id:
            continue
        result.append(
            InboxRow(
                person=person,
                last_at=r["last_at"],
                last_inbound_at=r["last_inbound_at"],
                unread=_unread(r["last_inbound_at"], state.read_at if state else None, r["answered_at"]),
                assigned_to=assigned,
            )
        )
    result.sort(key=lambda row: (not row.unread, -row.last_at.timestamp()))
    result = result[:limit]
    _attach_last_text(result)
    return result


def _attach_last_text(rows: list[InboxRow]) -> None:
    for row in rows:
        last = Message.objects.filter(**owner_filter(row.person)).order_by("-created_at", "-id").first()
        row.last_body = last.body if last else ""


@dataclass(frozen=True)
class UnreadSummary:
    count: int  # conversations with an unread reply
    latest_id: int  # the newest inbound text's id (0 without any): a new one means "a reply arrived"
    latest: Message | None

    @property
    def version(self) -> str:
        return f"{self.count}-{self.latest_id}"


def unread_summary(*, organization: Organization) -> UnreadSummary:
    """How many conversations wait with an unread reply, and the newest reply: two small queries."""
    held = Message.objects.filter(organization=organization).filter(Q(lead__isnull=False) | Q(customer__isnull=False))
    inbound = held.filter(direction=Message.Direction.INBOUND)
    latest = inbound.select_related("lead", "customer").order_by("-id").first()
    grouped = (
        held.values("lead_id", "customer_id")
        .annotate(last=Max("created_at", filter=Q(direction=Message.Direction.INBOUND)), answered=_ANSWERED)
        .filter(last__isnull=False)
    )
    reads = {
        (c["lead_id"], c["customer_id"]): c["read_at"]
        for c in Conversation.objects.filter(organization=organization).values("lead_id", "customer_id", "read_at")
    }
    count = sum(1 for g in grouped if _unread(g["last"], reads.get((g["lead_id"], g["customer_id"])), g["answered"]))
    return UnreadSummary(count=count, latest_id=latest.pk if latest else 0, latest=latest)


def conversation_state(*, person: Lead | Customer) -> Conversation | None:
    return Conversation.objects.filter(**owner_filter(person)).select_related("assigned_to").first()


def person_numbers(*, person: Lead | Customer) -> list[PhoneNumber]:
    """The person's numbers with consent, primary first (the card's order)."""
    return owner_numbers(owner=person)


__all__ = [
    "THREAD_LIMIT",
    "InboxRow",
    "TextingState",
    "ThreadItem",
    "UnreadSummary",
    "consents_by_number",
    "conversation_state",
    "inbox",
    "open_requests",
    "person_numbers",
    "person_thread",
    "texting_state",
    "thread_messages",
    "thread_version",
    "unread_summary",
]
