"""A lead's or customer's history: entries written by the services that cause them, named as who acted."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone

from ..models import History, Owner, PhoneNumber, owner_kwargs


def user_display_name(user: User | None) -> str:
    """How a person who acted is named on records: full name, else username; '' for the system."""
    if user is None or not user.is_authenticated:
        return ""
    return (user.get_full_name() or user.get_username())[:300]


def history_record(
    *,
    owner: Owner | None = None,
    kind: str,
    summary: str,
    agent: User | None = None,
    phone_number: PhoneNumber | None = None,
    occurred_at: datetime | None = None,
) -> History:
    """Add an entry to a lead's or customer's history (``owner``, or whoever holds ``phone_number``)."""
    entry = history_entry(
        owner=owner, kind=kind, summary=summary, agent=agent, phone_number=phone_number, occurred_at=occurred_at
    )
    entry.save(force_insert=True)
    return entry


def history_entry(
    *,
    owner: Owner | None = None,
    kind: str,
    summary: str,
    agent: User | None = None,
    phone_number: PhoneNumber | None = None,
    occurred_at: datetime | None = None,
) -> History:
    """The entry ``history_record`` adds, not saved yet: for a caller that saves it in one statement
    with rows of its own (``core.fastsql.insert``).

    Without ``owner`` the entry goes to whoever holds ``phone_number``: the number's own ids say whose
    it is, so the lead or customer is not loaded.
    """
    if owner is not None:
        whose: dict = {"organization_id": owner.organization_id, **owner_kwargs(owner)}
    elif phone_number is not None:
        whose = {
            "organization_id": phone_number.organization_id,
            "lead_id": phone_number.lead_id,
            "customer_id": phone_number.customer_id,
        }
    else:
        raise TypeError("history_entry needs the owner or a phone number of theirs")
    return History(
        kind=kind,
        summary=summary,
        agent=agent if agent is not None and agent.is_authenticated else None,
        actor_name=user_display_name(agent),
        phone_number=phone_number,
        occurred_at=occurred_at or timezone.now(),
        **whose,
    )
