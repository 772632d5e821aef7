"""The one confirmation text after a person's opt-out (FCC 24-24, 47 CFR 64.1200(a)(12)).

After a revocation the FCC allows one text, within five minutes, confirming it and carrying no
marketing. Here:

- it follows a revocation by STOP-family keyword, plain words, the unsubscribe link or an agent
  recording it (``ConsentEvent.CONFIRMED_SOURCES``), when the number was not already revoked;
- its wording is the organization's (``Organization.opt_out_confirmation``), with no link: after
  an opt-out there is nothing left to unsubscribe from (CTIA's opt-out confirmation carries none);
- it is skipped for a keyword STOP when the organization says Twilio answers STOP itself;
- it bypasses consent (it is the one text allowed after the revocation) but nothing else: the
  texting hours hold, and a confirmation that cannot go within five minutes is not sent at all;
- ``Message.confirms_event`` is unique, so a retried or parallel webhook can never make two.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from interactions.models import ConsentEvent, PhoneNumber

from ..compliance.engine import recipient_rules, send_refusal
from ..models import Message
from ..segments import measure
from .conversations import conversation_touch

logger = logging.getLogger(__name__)

# The FCC's limit: a confirmation may go within five minutes of the request, never later.
CONFIRM_WITHIN = timedelta(minutes=5)


def confirmation_wanted(*, event: ConsentEvent, was_revoked: bool) -> bool:
    """Whether this revocation gets the confirmation text."""
    if event.action != ConsentEvent.Action.REVOKE or was_revoked:
        return False  # a second STOP is the same revocation: it was confirmed the first time
    if event.source not in ConsentEvent.CONFIRMED_SOURCES:
        return False
    return not (event.source == ConsentEvent.Source.SMS_KEYWORD and event.organization.twilio_replies_to_stop)


def _conversation(event: ConsentEvent) -> tuple[PhoneNumber | None, Message | None]:
    holder = (
        PhoneNumber.objects.filter(organization=event.organization, number=event.number)
        .select_related("lead__facility", "customer__facility")
        .order_by("-is_primary", "id")
        .first()
    )
    last = (
        Message.objects.filter(organization=event.organization)
        .filter(to_number=event.number, direction=Message.Direction.OUTBOUND)
        .select_related("facility")
        .order_by("-created_at", "-id")
        .first()
    )
    return holder, last


def confirmation_refusal(*, message: Message, event: ConsentEvent, now: datetime) -> str:
    """Why the confirmation may not go at ``now`` ('' when it may): too late, or outside texting hours."""
    if now > event.created_at + CONFIRM_WITHIN:
        return "Not sent: a confirmation may only go within 5 minutes of the opt-out."
    owner = message.lead or message.customer
    recipient = recipient_rules(
        organization=message.organization, number=message.to_number, facility=message.facility, owner=owner
    )
    refusal = send_refusal(recipient=recipient, at=now, sent=[])
    return f"Not sent: the opt-out came outside texting hours. {refusal.message}" if refusal else ""


def opt_out_confirmation_queue(*, event: ConsentEvent, now: datetime | None = None) -> Message | None:
    """Write (and queue) the confirmation text of a revocation; ``None`` when there already is one.

    Runs inside the revocation's transaction (``messaging/receivers.py``). When the texting hours
    are closed the row is still written, as ``failed`` with the reason, so the record shows why no
    confirmation went; it is never sent later (it would no longer be within five minutes).
    """
    from .compose import send_on_commit

    now = now or timezone.now()
    holder, last = _conversation(event)
    facility = last.facility if last and last.facility else (holder.owner.facility if holder else None)
    body = event.organization.opt_out_confirmation
    size = measure(body)
    message = Message(
        organization=event.organization,
        direction=Message.Direction.OUTBOUND,
        lead=holder.lead if holder else None,
        customer=holder.customer if holder else None,
        phone_number=holder,
        facility=facility,
        to_number=event.number,
        from_number=(last.from_number if last else "") or (facility.sms_sender_number if facility else "") or "",
        body=body,
        status=Message.Status.QUEUED,
        segments=size.segments,
        encoding=size.encoding,
        queued_at=now,
        confirms_event=event,
    )
    refused = confirmation_refusal(message=message, event=event, now=now)
    if refused:
        message.status, message.queued_at, message.failed_at = Message.Status.FAILED, None, now
        message.error_code, message.error_message = "quiet_hours", refused[:500]
    try:
        with transaction.atomic():
            message.save()
            conversation_touch(message)
    except IntegrityError:
        logger.info("opt-out confirmation of consent event %s already written", event.pk)
        return None
    if message.status == Message.Status.QUEUED:
        send_on_commit(message.pk)
    return message
