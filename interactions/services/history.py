"""A lead's or customer's history: entries written by the services that cause them, named as who acted."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from ..models import History, Owner, PhoneNumber, owner_kwargs


def user_display_name(user: AbstractBaseUser | None) -> str:
    """How a person who acted is named on records: full name, else username; '' for the system."""
    if user is None or not user.is_authenticated:
        return ""
    return (user.get_full_name() or user.get_username())[:300]


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
