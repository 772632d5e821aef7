"""Writes about a person's conversation: its summary, kept with every text (``conversation_touch``);
reading, marking unread, done and snoozed; assigning it; and resolving a flagged reply."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from core.errors import ServiceError
from core.fastsql import insert_statement
from core.parsing import strict_id
from core.phonenumbers import readable
from core.tenancy import people_of
from interactions.models import Customer, History, Lead, Organization
from interactions.services import history_record, user_display_name

from ..models import Conversation, ConversationNote, Message
from ..selectors import conversation_summary_of, inbound_flagged


def _conversation_for_update(person: Lead | Customer) -> Conversation:
    owner = {"lead_id": person.pk} if isinstance(person, Lead) else {"customer_id": person.pk}
    return _locked(organization_id=person.organization_id, owner=owner)


def _locked(*, organization_id: int, owner: dict[str, Any]) -> Conversation:
    """The person's conversation row, locked until the transaction ends (made when missing)."""
    conversation, _ = Conversation.objects.select_for_update().get_or_create(organization_id=organization_id, **owner)
    return conversation


def _owner_of(message: Message) -> dict[str, Any] | None:
    if message.lead_id:
        return {"lead_id": message.lead_id}
    if message.customer_id:
        return {"customer_id": message.customer_id}
    return None


def _newer(at: datetime, pk: int, than_at: datetime | None, than_pk: int | None) -> bool:
    """Whether the text (``at``, ``pk``) is newer than the one held: by time, then id (the thread's order)."""
    return than_at is None or (at, pk) > (than_at, than_pk or 0)


def conversation_touch(message: Message) -> None:
    """Write a text just saved into its person's conversation summary, in the same transaction.

    Every service that creates a text calls this (queue and schedule, the opt-out confirmation, a
    received reply, the demo data): the inbox and the unread count read only the summary. One UPDATE
    computes the new summary from the row as it is when the UPDATE locks it (``_touch``), so
    texts of one person written at once each see the other's, and a text older than the one held
    (a slower concurrent writer) changes only what it is newest for. A person's first text inserts
    the row instead. A reply reopens a conversation marked done or snoozed. Nothing for a text filed
    under no person. tests/messaging/test_conversation_summary.py holds the UPDATE equal to
    ``Conversation.unread_state``/``waiting_state`` and to the texts themselves.
    """
    owner = _owner_of(message)
    if owner is None:
        return
    if _touch(message, owner):
        return
    try:
        with transaction.atomic():  # a person's first text: the row is new (or written at this moment)
            first = Conversation(organization_id=message.organization_id, **owner)
            _summarised(first, message)
            first.save(force_insert=True)
    except IntegrityError:  # another first text of the same person won the insert: update that row
        _touch(message, owner)


def _summarised(c: Conversation, message: Message) -> None:
    """``c`` with ``message`` summarised into it, in Python (the rule ``_touch`` writes in SQL)."""
    at, pk = message.created_at, message.pk
    if _newer(at, pk, c.last_at, c.last_message_id):
        c.last_message_id, c.last_at = pk, at
    if message.direction == Message.Direction.INBOUND:
        if _newer(at, pk, c.last_inbound_at, c.last_inbound_id):
            c.last_inbound_id, c.last_inbound_at = pk, at
        c.done_at = c.snoozed_until = None
        c.flagged = c.flagged or (message.flagged_opt_out_request and message.flag_dismissed_at is None)
    elif message.sent_by_id is not None:
        c.answered_at = at if c.answered_at is None else max(c.answered_at, at)
        c.marked_unread = False
    c.unread, c.waiting = c.unread_state(), c.waiting_state()


# The summary's UPDATE, as plain SQL (core/fastsql.py's table: built as a queryset, its CASE
# expressions cost the send more Python than everything else it does). Every SET reads the row as it
# was before the UPDATE, as SQL does: ``{newer}`` and ``{newer_in}`` say the text is newer than the
# one held, by time and then id (the thread's order); ``{inbound_at}`` and ``{answered}`` are the new
# ``last_inbound_at`` and ``answered_at``. ``_summarised`` is the same rule in Python, and
# tests/messaging/test_conversation_summary.py holds both equal to the texts themselves.
_NEWER = "(last_at IS NULL OR last_at < %(at)s OR (last_at = %(at)s AND last_message_id < %(pk)s))"
_NEWER_IN = (
    "(last_inbound_at IS NULL OR last_inbound_at < %(at)s OR (last_inbound_at = %(at)s AND last_inbound_id < %(pk)s))"
)
_INBOUND_AT = f"(CASE WHEN {_NEWER_IN} THEN %(at)s ELSE last_inbound_at END)"
_ANSWERED = "(CASE WHEN (answered_at IS NULL OR answered_at < %(at)s) THEN %(at)s ELSE answered_at END)"
_REPLIED_SINCE = f"(last_inbound_at IS NOT NULL AND last_inbound_at > {_ANSWERED})"
_TOUCH_SET = {
    "any": [
        f"last_message_id = CASE WHEN {_NEWER} THEN %(pk)s ELSE last_message_id END",
        f"last_at = CASE WHEN {_NEWER} THEN %(at)s ELSE last_at END",
        "updated_at = %(now)s",
    ],
    "inbound": [
        f"last_inbound_id = CASE WHEN {_NEWER_IN} THEN %(pk)s ELSE last_inbound_id END",
        f"last_inbound_at = {_INBOUND_AT}",
        "done_at = NULL",
        "snoozed_until = NULL",
        "flagged = (flagged OR %(flag)s)",
        f"waiting = (answered_at IS NULL OR answered_at < {_INBOUND_AT})",
        "unread = (marked_unread"
        f" OR ((read_at IS NULL OR read_at < {_INBOUND_AT}) AND (answered_at IS NULL OR answered_at < {_INBOUND_AT})))",
    ],
    "answered": [  # an agent's text
        f"answered_at = {_ANSWERED}",
        "marked_unread = %(false)s",
        f"waiting = {_REPLIED_SINCE}",
        f"unread = ({_REPLIED_SINCE} AND (read_at IS NULL OR read_at < last_inbound_at))",
    ],
}


def _touch_statement(message: Message, owner: dict[str, Any], connection: Any) -> tuple[str, dict[str, Any]]:
    """The summary's UPDATE for ``message`` (the rule above) and its named parameters."""
    if message.direction == Message.Direction.INBOUND:
        kind = "inbound"
    elif message.sent_by_id is not None:
        kind = "answered"
    else:
        kind = ""
    [(owner_field, owner_id)] = owner.items()
    meta = Conversation._meta
    at_field = meta.get_field("last_at")
    sets = ", ".join(_TOUCH_SET["any"] + (_TOUCH_SET[kind] if kind else []))
    sql = (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {sets} "
        f"WHERE organization_id = %(organization)s AND {owner_field} = %(owner)s"
    )
    params = {
        "at": at_field.get_db_prep_value(message.created_at, connection),
        "pk": message.pk,
        "now": at_field.get_db_prep_value(timezone.now(), connection),
        "flag": bool(message.flagged_opt_out_request and message.flag_dismissed_at is None),
        "false": False,
        "organization": message.organization_id,
        "owner": owner_id,
    }
    return sql, params


def _touch(message: Message, owner: dict[str, Any]) -> int:
    """The summary's UPDATE for ``message``; the rows changed (0: the person has none yet)."""
    connection = connections[router.db_for_write(Conversation)]
    sql, params = _touch_statement(message, owner, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


_NAMED = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=64)
def _positional(sql: str, new_id: str) -> tuple[str, list[str]]:
    """``sql`` with positional parameters (the inserts' are) and the names they take, in order; the
    new text's id (SQL ``new_id``) written in where the rule reads ``pk``."""
    names = [name for name in _NAMED.findall(sql) if name != "pk"]
    return _NAMED.sub(lambda m: new_id if m.group(1) == "pk" else "%s", sql), names


def conversation_touch_statements(message: Message, *, new_id: str) -> list[tuple[str, list[Any]]] | None:
    """``conversation_touch`` as statements of the text's own insert (``core.fastsql.insert``'s
    ``then``), for a text not saved yet whose id the SQL ``new_id`` reads: the summary's UPDATE, and
    the person's first text's INSERT of the row when the UPDATE found none. Two first texts of one
    person at once: one statement fails on the row's unique key, writing nothing (the caller writes
    it again the ordinary way). ``None`` (nothing to fold) for a text filed under no person."""
    owner = _owner_of(message)
    using = router.db_for_write(Conversation)
    if owner is None or using != router.db_for_write(Message):  # one statement runs on one database
        return None
    connection = connections[using]
    sql, named = _touch_statement(message, owner, connection)
    sql, names = _positional(sql, new_id)
    params = [named[name] for name in names]
    first = Conversation(organization_id=message.organization_id, **owner)
    _summarised(first, message)
    ids = {"last_message_id": new_id}
    if message.direction == Message.Direction.INBOUND:
        ids["last_inbound_id"] = new_id
    insert = insert_statement(first, using=connection.alias, values=ids, where="NOT EXISTS (SELECT 1 FROM then0)")
    if insert is None:
        return None
    return [(f"{sql} RETURNING 1", params), insert]


@transaction.atomic
def conversation_summary_rebuild(*, person: Lead | Customer) -> Conversation | None:
    """The person's summary written afresh from their texts (``conversation_summary_of``): for texts whose
    times were changed after they were written (the demo data's past). ``None`` without texts."""
    summary = conversation_summary_of(person=person)
    if summary["last_message_id"] is None:
        return None
    conversation = _conversation_for_update(person)
    for name, value in summary.items():
        setattr(conversation, name, value)
    conversation.unread, conversation.waiting = conversation.unread_state(), conversation.waiting_state()
    conversation.save()
    return conversation


def conversation_flags_after_opt_out(*, organization: Organization, number: object) -> None:
    """An opt-out of ``number`` was recorded: its flagged replies are answered, and their people's
    conversations leave "Stop requests" (the rule is ``inbound_flagged``'s)."""
    owners = (
        Message.objects.filter(
            organization=organization,
            from_number=number,
            direction=Message.Direction.INBOUND,
            flagged_opt_out_request=True,
            flag_dismissed_at__isnull=True,
        )
        .values_list("lead_id", "customer_id")
        .distinct()
    )
    held = [{"lead_id": lead} if lead else {"customer_id": customer} for lead, customer in owners if lead or customer]
    conversation_flag_refresh(organization_id=organization.pk, owners=held)


def conversation_flag_refresh(*, organization_id: int, owners: list[dict[str, Any]]) -> None:
    """Whether each person still has a reply asking not to be texted that waits for an agent: after
    one was resolved (``reply_flag_dismiss``) or an opt-out of its number was recorded."""
    for owner in owners:
        still = inbound_flagged(Organization(pk=organization_id)).filter(**owner).exists()
        Conversation.objects.filter(organization_id=organization_id, **owner).exclude(flagged=still).update(
            flagged=still, updated_at=timezone.now()
        )


@transaction.atomic
def conversation_mark_read(*, person: Lead | Customer, user: User, at: datetime | None = None) -> Conversation:
    """An agent has the person's thread in front of them: every reply up to ``at`` is read."""
    at = at or timezone.now()
    conversation = _conversation_for_update(person)
    if conversation.read_at is None or conversation.read_at < at or conversation.marked_unread:
        if conversation.read_at is None or conversation.read_at < at:
            conversation.read_at, conversation.read_by = at, user if user.is_authenticated else None
        conversation.marked_unread = False
        conversation.unread = conversation.unread_state()
        conversation.save(update_fields=["read_at", "read_by", "marked_unread", "unread", "updated_at"])
    return conversation


@transaction.atomic
def conversation_mark_unread(*, person: Lead | Customer) -> Conversation:
    """An agent wants the conversation back in front of them: unread until someone opens or answers it."""
    conversation = _conversation_for_update(person)
    conversation.marked_unread = conversation.unread = True
    conversation.done_at = None
    conversation.save(update_fields=["marked_unread", "unread", "done_at", "updated_at"])
    return conversation


@transaction.atomic
def conversation_done(*, person: Lead | Customer, at: datetime | None = None) -> Conversation:
    """Nothing left to do: out of the open list (and read) until the person writes again."""
    conversation = _conversation_for_update(person)
    conversation.done_at, conversation.snoozed_until = at or timezone.now(), None
    conversation.read_at = max(t for t in (conversation.read_at, conversation.done_at) if t is not None)
    conversation.marked_unread = False
    conversation.unread = conversation.unread_state()
    conversation.save(update_fields=["done_at", "snoozed_until", "read_at", "marked_unread", "unread", "updated_at"])
    return conversation


@transaction.atomic
def conversation_reopen(*, person: Lead | Customer) -> Conversation:
    """Back in the open list: neither done nor snoozed."""
    conversation = _conversation_for_update(person)
    conversation.done_at = conversation.snoozed_until = None
    conversation.save(update_fields=["done_at", "snoozed_until", "updated_at"])
    return conversation


PRESENCE_SECONDS = 15  # an agent who has not polled for this long has left the conversation


@dataclass(frozen=True)
class Presence:
    name: str
    typing: bool


def conversation_presence(
    *, person: Lead | Customer, user: User, typing: bool, now: float | None = None
) -> list[Presence]:
    """Say that ``user`` has the person's conversation open (and is typing, or not), and who else has,
    seen in the last ``PRESENCE_SECONDS``. Kept in the shared cache only (Redis in production), a few
    seconds at a time: nothing is written to the database."""
    now = time.time() if now is None else now
    key = f"textdesk:presence:{person.organization_id}:{person.kind}-{person.pk}"
    seen: dict[str, list] = cache.get(key) or {}
    seen = {uid: entry for uid, entry in seen.items() if now - entry[1] <= PRESENCE_SECONDS}
    seen[str(user.pk)] = [user_display_name(user), now, bool(typing)]
    cache.set(key, seen, timeout=PRESENCE_SECONDS * 2)
    return [Presence(name=entry[0], typing=entry[2]) for uid, entry in sorted(seen.items()) if uid != str(user.pk)]


NOTE_LONGEST = 2000  # characters


def conversation_note_add(*, person: Lead | Customer, author: User, body: str) -> ConversationNote:
    """A note for the team on the person's conversation. It is never texted: no text is written, and
    nothing here reaches a backend."""
    body = (body or "").strip()
    if not body:
        raise ServiceError("empty_body", "Write the note first.", field="body")
    if len(body) > NOTE_LONGEST:
        raise ServiceError("too_long", f"Keep the note under {NOTE_LONGEST:,} characters.", field="body")
    return ConversationNote.objects.create(
        organization_id=person.organization_id,
        **({"lead": person} if isinstance(person, Lead) else {"customer": person}),
        author=author if author.is_authenticated else None,
        author_name=user_display_name(author),
        body=body,
    )


SNOOZE_LONGEST = 365  # days


@transaction.atomic
def conversation_snooze(
    *, person: Lead | Customer, until: datetime | None, now: datetime | None = None
) -> Conversation:
    """Out of the open list (and read) until ``until``, or until the person writes again."""
    now = now or timezone.now()
    if until is None:
        raise ServiceError("invalid", "Choose when the conversation comes back.", field="until")
    if until <= now:
        raise ServiceError("invalid", "Choose a time in the future.", field="until")
    if (until - now).days > SNOOZE_LONGEST:
        raise ServiceError("invalid", "Snooze for a year at most.", field="until")
    conversation = _conversation_for_update(person)
    conversation.snoozed_until, conversation.done_at = until, None
    conversation.read_at = max(t for t in (conversation.read_at, now) if t is not None)
    conversation.marked_unread = False
    conversation.unread = conversation.unread_state()
    conversation.save(update_fields=["snoozed_until", "done_at", "read_at", "marked_unread", "unread", "updated_at"])
    return conversation


@transaction.atomic
def conversation_assign(*, person: Lead | Customer, assignee_id: int | str | None, by: User) -> Conversation:
    """Give the person's conversation to an agent of the same organization, or to nobody (``None``)."""
    assignee = None
    if assignee_id not in (None, ""):
        # People only: an API key's service user is a member too, but nobody to hand a conversation to.
        pk = strict_id(assignee_id)
        assignee = people_of(person.organization).filter(pk=pk).first() if pk is not None else None
        if assignee is None:
            raise ServiceError("not_found", "That agent is not in your organization.", field="assigned_to", status=404)
    conversation = _conversation_for_update(person)
    conversation.assigned_to = assignee
    conversation.save(update_fields=["assigned_to", "updated_at"])
    return conversation


@transaction.atomic
def reply_flag_dismiss(*, reply: Message, user: User, note: str) -> Message:
    """An agent read a flagged reply and judged it is not a request to stop texting.

    The note (required) says why; the person's history keeps it, and sending to the number is
    allowed again.
    """
    note = (note or "").strip()
    if not note:
        raise ServiceError("note_required", "Say why this reply is not a request to stop texting.", field="note")
    if len(note) > 500:
        raise ServiceError("too_long", "Keep the note under 500 characters.", field="note")
    locked = Message.objects.select_for_update().get(pk=reply.pk)
    if not locked.flagged_opt_out_request or locked.flag_dismissed_at is not None:
        return locked
    locked.flag_dismissed_at, locked.flag_dismissed_by, locked.flag_dismissed_note = timezone.now(), user, note
    locked.save(update_fields=["flag_dismissed_at", "flag_dismissed_by", "flag_dismissed_note", "updated_at"])
    owner = locked.lead or locked.customer
    if (held := _owner_of(locked)) is not None:
        conversation_flag_refresh(organization_id=locked.organization_id, owners=[held])
    if owner is not None:
        history_record(
            owner=owner,
            kind=History.Kind.NOTE,
            agent=user,
            summary=f"Not a request to stop texting ({readable(locked.from_number)}): {note}",
        )
    return locked
