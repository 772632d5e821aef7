"""Reads for the messaging side: texts for cards and lists (inside one organization), unsubscribe links."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from phonenumber_field.phonenumber import to_python

from interactions.models import ConsentEvent, Organization, PhoneNumber

from .models import Message, UnsubscribeLink


def _inbound(organization: Organization) -> QuerySet[Message]:
    return Message.objects.filter(organization=organization, direction=Message.Direction.INBOUND).select_related(
        "lead", "customer", "phone_number", "facility"
    )


def inbound_flagged(organization: Organization) -> QuerySet[Message]:
    """Replies that ask, in plain words, not to be texted and still wait for an agent, newest first.

    A flagged reply drops off once an opt-out of its number was recorded after it arrived (by an
    agent, the link, a keyword or the carrier): then there is nothing left to do.
    """
    handled = ConsentEvent.objects.filter(
        organization=OuterRef("organization"),
        number=OuterRef("from_number"),
        action=ConsentEvent.Action.REVOKE,
        created_at__gte=OuterRef("received_at"),
    )
    return _inbound(organization).filter(flagged_opt_out_request=True).exclude(Exists(handled))


def inbound_unmatched(organization: Organization) -> QuerySet[Message]:
    """Replies from numbers that no lead or customer of the organization holds, newest first.

    Saving the number on a record takes its texts off this list (and onto that record's card).
    """
    held = PhoneNumber.objects.filter(organization=OuterRef("organization"), number=OuterRef("from_number"))
    return _inbound(organization).exclude(Exists(held))


def conversation_for(organization: Organization, number: str | ParsedNumber) -> QuerySet[Message]:
    """Every text to and from one E.164 number in the organization, oldest first.

    Outbound texts to the number and inbound texts from it, whichever record they were sent
    from: consent and replies belong to the number, not to one record.
    """
    parsed = number if isinstance(number, ParsedNumber) else to_python(str(number or ""), region="US")
    if not isinstance(parsed, ParsedNumber) or not parsed.is_valid():
        return Message.objects.none()
    return (
        Message.objects.filter(organization=organization)
        .filter(
            Q(direction=Message.Direction.OUTBOUND, to_number=parsed)
            | Q(direction=Message.Direction.INBOUND, from_number=parsed)
        )
        .select_related("sent_by")
        .order_by("created_at", "id")
    )


def unsubscribe_link_by_token(*, token: str) -> UnsubscribeLink | None:
    """The link behind ``/u/<token>``, with its organization, or ``None``."""
    if not token or len(token) > 32:
        return None
    return UnsubscribeLink.objects.select_related("organization").filter(token=token).first()
