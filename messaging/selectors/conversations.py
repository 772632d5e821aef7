"""A person's conversation: all their numbers, texts and events, as the card and the panel show it.

A conversation belongs to a person, not to one number: the panel shows every text to and from
each of their numbers, labelled with the number, and the ledger's and history's events in
between (opted out and how, permission recorded, enrolled, task done).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from django.db import connection
from django.db.models import CharField, ExpressionWrapper, F, Q, QuerySet
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from phonenumber_field.phonenumber import to_python as stored_number  # what loading the column does

from core.phonenumbers import readable
from interactions.models import Consent, ConsentEvent, Customer, History, Lead, PhoneNumber, owner_kwargs
from interactions.selectors import ConsentState, owner_numbers

from ..models import Conversation, ConversationNote, Message
from .media import message_media_map

THREAD_LIMIT = 60


def _person_messages(*, person: Lead | Customer, numbers: list[PhoneNumber]) -> QuerySet[Message]:
    parsed = [n.number for n in numbers if n.number]
    match = Q(**owner_kwargs(person))
    if parsed:
        match |= Q(direction=Message.Direction.OUTBOUND, to_number__in=parsed)
        match |= Q(direction=Message.Direction.INBOUND, from_number__in=parsed)
    return Message.objects.filter(match, organization_id=person.organization_id)


def _newest_person_messages(*, person: Lead | Customer, numbers: list[PhoneNumber], limit: int) -> QuerySet[Message]:
    """The person's newest ``limit`` texts (unordered: the caller orders).

    A text is the person's by its owner, or by being to or from one of their numbers. Asked as one
    ``OR``, PostgreSQL walked the organization's texts newest first until it had ``limit`` of the
    person's (a person with a long thread: 600 ms at 10 M texts, bench/RESULTS.md "Scale"). Here
    each way is asked on its own, newest first through its own index (``message_lead_created`` or
    ``message_customer_created``; ``message_org_to_created`` and ``message_org_from_created`` per
    number), ``limit`` rows each, and the texts are those ids: a few index probes, whatever the
    thread's length. SQLite (``make run``) cannot limit the parts of a ``UNION``: one ``OR`` there.
    """
    if connection.vendor != "postgresql":
        return _person_messages(person=person, numbers=numbers)
    texts = Message.objects.filter(organization_id=person.organization_id)
    ways = [texts.filter(**owner_kwargs(person))]
    for number in (n.number for n in numbers if n.number):
        ways.append(texts.filter(direction=Message.Direction.OUTBOUND, to_number=number))
        ways.append(texts.filter(direction=Message.Direction.INBOUND, from_number=number))
    newest = [way.order_by("-created_at", "-id").values("id")[:limit] for way in ways]
    return texts.filter(pk__in=newest[0].union(*newest[1:], all=True))


@dataclass
class ThreadItem:
    """One line of the thread: a text (``message``) or an event (``event``: a sentence)."""

    at: datetime
    message: Message | None = None
    event: str = ""
    event_kind: str = ""  # consent-in | consent-out | note | internal (the team's note, never texted)
    number_label: str = ""


def _number_label(numbers: dict[str, PhoneNumber], number: str | ParsedNumber) -> str:
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


def _number_key(number: object) -> tuple:
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
    hows: dict[str, str] = {
        ConsentEvent.Source.SMS_KEYWORD: "by texting a keyword",
        ConsentEvent.Source.UNSUBSCRIBE_LINK: "through the unsubscribe link",
        ConsentEvent.Source.CARRIER: "(the carrier reports the number unsubscribed)",
        ConsentEvent.Source.AGENT: "recorded by an agent",
        ConsentEvent.Source.API: "through the API",
        ConsentEvent.Source.WEB_FORM: "on a web form",
        ConsentEvent.Source.PMS_IMPORT: "from the PMS import",
        ConsentEvent.Source.SMS_WORDS: "by asking in a text not to be texted",
    }
    how = hows.get(event.source, event.get_source_display())
    who = ""
    if (actor := event.actor) is not None:
        who = f" by {actor.get_full_name() or actor.get_username()}"
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


def _raw(text: Message, name: str) -> str:
    """A number of ``text`` as stored, read through ``_RAW_NUMBERS`` (``to_raw``, ``from_raw``)."""
    raw: str = getattr(text, name)
    return raw


def thread_messages(*, person: Lead | Customer, numbers: list[PhoneNumber], limit: int = THREAD_LIMIT) -> list[Message]:
    """The person's latest ``limit`` texts across all ``numbers``, newest first (one read, shared by
    the thread and its version).

    ``to_number`` and ``from_number`` are not loaded as numbers: ``to_raw`` and ``from_raw`` hold
    them as stored. A flagged reply gets its ``from_number`` (its opt-out button names it); reading
    either on another text would load it with a query of its own.
    """
    texts = list(
        _newest_person_messages(person=person, numbers=numbers, limit=limit)
        .select_related("sent_by", "flag_dismissed_by")
        .defer("to_number", "from_number")
        .annotate(**_RAW_NUMBERS)
        .order_by("-created_at", "-id")[:limit]
    )
    pictures = message_media_map(texts)  # read only when a text carries any
    for text in texts:
        text.pictures = pictures.get(text.pk, [])
        if text.flagged_opt_out_request:
            text.from_number = stored_number(_raw(text, "from_raw"))
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

    def label_of(number: str) -> str:
        key = _number_key(number)
        if key not in labels:
            labels[key] = _number_label(by_e164, number)
        return labels[key]

    items = [
        ThreadItem(
            at=m.received_at or m.created_at,
            message=m,
            number_label=label_of(_raw(m, "from_raw" if m.direction == Message.Direction.INBOUND else "to_raw")),
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
        History.objects.filter(kind=History.Kind.NOTE, **owner_kwargs(person))
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
    # The team's notes on the conversation (never texted), marked apart from texts and events.
    items += [
        ThreadItem(
            at=n.created_at,
            event=f"Note by {n.author_name or 'an agent'} (not texted): {n.body}",
            event_kind="internal",
        )
        for n in ConversationNote.objects.filter(**owner_kwargs(person)).order_by("-created_at", "-id")[:limit]
    ]
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
        rows = [(m.id, m.status, m.error_code, m.flag_dismissed_at, m.updated_at) for m in messages[:THREAD_LIMIT]]
    else:
        rows = list(
            _newest_person_messages(person=person, numbers=numbers, limit=THREAD_LIMIT)
            .order_by("-created_at", "-id")
            .values_list("id", "status", "error_code", "flag_dismissed_at", "updated_at")[:THREAD_LIMIT]
        )
    consents = _consents_fingerprint(person=person, numbers=numbers)
    note = History.objects.filter(**owner_kwargs(person)).order_by("-id").values_list("id", flat=True).first()
    team_note = (
        ConversationNote.objects.filter(**owner_kwargs(person))
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )
    phones = sorted((n.pk, n.is_primary) for n in numbers)
    return hashlib.blake2b(repr((rows, consents, note, team_note, phones)).encode(), digest_size=8).hexdigest()


def _consents_fingerprint(*, person: Lead | Customer, numbers: list[PhoneNumber]) -> list[tuple]:
    """The numbers' consent as the version sees it. Numbers read with their consent (``owner_numbers``: the
    panel, its poll and the card) carry it already, read in the same request: it is not read a second time.
    Each ledger event changes the state's time (``at``, the latest event's), so a change always shows."""
    states: list[ConsentState] = [c for n in numbers if (c := getattr(n, "consent", None)) is not None]
    if len(states) == len(numbers):
        return sorted((s.number, s.status, s.source or "", s.at.isoformat() if s.at else "") for s in states)
    rows = Consent.objects.filter(organization_id=person.organization_id, number__in=[n.number for n in numbers])
    return sorted((row.number.as_e164, row.status, "", str(row.last_event_id)) for row in rows)


# --- open plain-words requests ----------------------------------------------------------------


def conversation_state(*, person: Lead | Customer) -> Conversation | None:
    return Conversation.objects.filter(**owner_kwargs(person)).select_related("assigned_to").first()


def reply_phone_id(*, person: Lead | Customer) -> int | None:
    """The number the inbox replies on: the one that wrote last, while it is still the person's; else
    their primary number (the card's first); ``None`` without numbers."""
    wrote = (
        Conversation.objects.filter(**owner_kwargs(person)).values_list("last_inbound__phone_number", flat=True).first()
    )
    numbers = PhoneNumber.objects.filter(**owner_kwargs(person)).order_by("-is_primary", "id")
    if wrote is not None and numbers.filter(pk=wrote).exists():
        return wrote
    first = numbers.values_list("pk", flat=True).first()
    return first


def person_numbers(*, person: Lead | Customer) -> list[PhoneNumber]:
    """The person's numbers with consent, primary first (the card's order)."""
    return owner_numbers(owner=person)


def scheduled_texts(*, person: Lead | Customer, numbers: list[PhoneNumber]) -> list[Message]:
    """The person's texts still waiting to go out (``scheduled``), soonest first: the panel lists them
    with Cancel. Texts to any of their numbers count, the workflows' automatic ones included."""
    parsed = [n.number for n in numbers if n.number]
    if not parsed:
        return []
    return list(
        Message.objects.filter(
            organization_id=person.organization_id,
            to_number__in=parsed,
            status=Message.Status.SCHEDULED,
            direction=Message.Direction.OUTBOUND,
        )
        .select_related("sent_by")
        .order_by("send_at", "id")
    )


def person_text_for(*, person: Lead | Customer, numbers: list[PhoneNumber], pk: object) -> Message | None:
    """One outbound text to one of the person's numbers (their organization's), or ``None``."""
    parsed = [n.number for n in numbers if n.number]
    if not parsed or not str(pk).isdigit():
        return None
    return Message.objects.filter(
        organization_id=person.organization_id,
        pk=int(str(pk)),
        to_number__in=parsed,
        direction=Message.Direction.OUTBOUND,
    ).first()
