"""Reads for the card's text panel: one number, its conversation, the templates to pick from.

``conversation_for_number`` stands in for ``messaging.selectors.conversation_for`` until that
lands on main; the two are to be reconciled then.
"""

from __future__ import annotations

import hashlib

from django.db.models import Q

from interactions.models import Organization, PhoneNumber
from interactions.selectors import numbers_with_consent, owner_numbers

from .models import Message, MessageTemplate

CONVERSATION_LIMIT = 50


def phone_number_for(*, organization: Organization, pk: int | str) -> PhoneNumber | None:
    """A phone number of ``organization`` with its owner and ``consent`` loaded, or ``None``."""
    phone = (
        PhoneNumber.objects.filter(organization=organization, pk=pk)
        .select_related(
            "organization", "lead__facility", "lead__organization", "customer__facility", "customer__organization"
        )
        .first()
    )
    if phone is None:
        return None
    numbers_with_consent(organization=organization, numbers=[phone])
    return phone


def other_numbers(*, phone_number: PhoneNumber) -> list[PhoneNumber]:
    """The owner's other numbers (with consent), primary first."""
    return [n for n in owner_numbers(owner=phone_number.owner) if n.pk != phone_number.pk]


def _conversation_filter(*, organization: Organization, number) -> Q:
    outbound = Q(direction=Message.Direction.OUTBOUND, to_number=number)
    inbound = Q(direction=Message.Direction.INBOUND, from_number=number)
    return Q(organization=organization) & (outbound | inbound)


def conversation_for_number(*, organization: Organization, number, limit: int = CONVERSATION_LIMIT) -> list[Message]:
    """The latest texts to and from ``number`` in ``organization``, oldest first."""
    latest = (
        Message.objects.filter(_conversation_filter(organization=organization, number=number))
        .select_related("sent_by")
        .order_by("-created_at", "-id")[:limit]
    )
    return list(reversed(latest))


def conversation_version(*, organization: Organization, number, limit: int = CONVERSATION_LIMIT) -> str:
    """A short fingerprint of what the conversation shows: it changes when a text is added or changes status.

    The card polls with it, and an unchanged conversation answers 204 without rendering. It
    reads the status itself rather than ``updated_at``, which a queryset ``update()`` leaves alone.
    """
    rows = list(
        Message.objects.filter(_conversation_filter(organization=organization, number=number))
        .order_by("-created_at", "-id")
        .values_list("id", "status", "error_code", "updated_at")[:limit]
    )
    return hashlib.blake2b(repr(rows).encode(), digest_size=8).hexdigest()


def active_templates_for(*, organization: Organization) -> list[MessageTemplate]:
    """The organization's switched-on templates, by category then name."""
    return list(MessageTemplate.objects.filter(organization=organization, active=True).order_by("category", "name"))


def template_for(*, organization: Organization, pk: int | str) -> MessageTemplate | None:
    """One of the organization's templates (active or not: choosing an inactive one says so)."""
    try:
        return MessageTemplate.objects.filter(organization=organization, pk=int(pk)).first()
    except (TypeError, ValueError):
        return None
