"""Writes about a person's conversation: reading it, assigning it, and resolving a flagged reply."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from core.parsing import strict_id
from core.phonenumbers import readable
from core.tenancy import people_of
from interactions.models import Customer, History, Lead
from interactions.services import history_record

from ..models import Conversation, Message


def _conversation_for_update(person: Lead | Customer) -> Conversation:
    owner = {"lead": person} if isinstance(person, Lead) else {"customer": person}
    conversation, _ = Conversation.objects.select_for_update().get_or_create(
        organization_id=person.organization_id, **owner
    )
    return conversation


@transaction.atomic
def conversation_mark_read(*, person: Lead | Customer, user: User, at: datetime | None = None) -> Conversation:
    """An agent has the person's thread in front of them: every reply up to ``at`` is read."""
    at = at or timezone.now()
    conversation = _conversation_for_update(person)
    if conversation.read_at is None or conversation.read_at < at:
        conversation.read_at, conversation.read_by = at, user if user.is_authenticated else None
        conversation.save(update_fields=["read_at", "read_by", "updated_at"])
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
    if owner is not None:
        history_record(
            owner=owner,
            kind=History.Kind.NOTE,
            agent=user,
            summary=f"Not a request to stop texting ({readable(locked.from_number)}): {note}",
        )
    return locked
