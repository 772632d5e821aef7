"""What the system learns about a number before and after texting it.

- Line type: a lookup (Twilio Lookup v2 ``line_type_intelligence``; the console backend's demo
  stand-in in ``make run``) when a number is added, and again before a text once the stored
  answer is older than ``LINE_TYPE_MAX_AGE_DAYS``. ``LINE_TYPE_LOOKUP`` turns the paid lookups off.
  A failed lookup never blocks a text: the number is looked up again by ``line_types_lookup_pending``.
- Carrier errors: ``carrier_error_act`` does what the backend's error table says for a failed text
  (revoke consent, mark the number not textable, flag the text or the facility's sender), for a
  refused send and a delivery receipt alike.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min, Q
from django.utils import timezone

from interactions.models import ConsentEvent, PhoneNumber
from interactions.services import (
    consent_revoke,
    facility_sender_flag,
    phone_numbers_line_type_record,
    phone_numbers_mark_not_textable,
)

from ..backends import BaseSmsBackend, LineTypeLookupFailed, LineTypeUnsupported, ProviderError, get_backend
from ..backends.base import (
    ACT_COUNT_UNREACHABLE,
    ACT_FLAG_CONTENT,
    ACT_FLAG_SENDER,
    ACT_MARK_NOT_TEXTABLE,
    ACT_REVOKE_CONSENT,
)
from ..models import Message, MessageTemplate

logger = logging.getLogger(__name__)

# A lookup made just before a text waits at most this long: the text must not wait on a slow lookup.
PRE_SEND_LOOKUP_TIMEOUT = 3.0


# --- line type ------------------------------------------------------------------------------


def line_type_is_stale(phone_number: PhoneNumber, *, now: datetime | None = None) -> bool:
    """Whether the stored line type is missing or older than ``LINE_TYPE_MAX_AGE_DAYS``."""
    now = now or timezone.now()
    checked = phone_number.line_type_checked_at
    return checked is None or checked < now - timedelta(days=settings.LINE_TYPE_MAX_AGE_DAYS)


def line_type_lookup(
    *, phone_number: PhoneNumber, backend: BaseSmsBackend | None = None, now: datetime | None = None
) -> bool:
    """Look up the line type of ``phone_number`` and store it on every record holding the number.

    Returns ``False`` when lookups are off or the backend cannot look up line types; raises
    ``LineTypeLookupFailed`` when the lookup failed now (the caller retries later).
    """
    if not settings.LINE_TYPE_LOOKUP:
        return False
    backend = backend or get_backend()
    try:
        found = backend.lookup_line_type(phone_number.e164)
    except LineTypeUnsupported:
        return False
    now = now or timezone.now()
    phone_numbers_line_type_record(
        organization=phone_number.organization,
        number=phone_number.number,
        line_type=found.line_type,
        carrier=found.carrier,
        demo=found.demo,
        now=now,
    )
    phone_number.line_type, phone_number.line_type_carrier = found.line_type, found.carrier
    phone_number.line_type_checked_at, phone_number.line_type_demo = now, found.demo
    return True


def line_type_refresh_before_text(*, phone_number: PhoneNumber, now: datetime | None = None) -> None:
    """Before a text: look the number up again when its stored line type is missing or too old.

    Never blocks the text: a failed or slow lookup is logged and left to ``line_types_lookup_pending``.
    """
    if not settings.LINE_TYPE_LOOKUP or not line_type_is_stale(phone_number, now=now):
        return
    try:
        line_type_lookup(phone_number=phone_number, backend=get_backend(timeout=PRE_SEND_LOOKUP_TIMEOUT), now=now)
    except LineTypeLookupFailed as exc:
        logger.warning("line type of phone number %s not looked up before a text: %s", phone_number.pk, exc)


def line_types_lookup_pending(*, now: datetime | None = None, limit: int = 200) -> int:
    """Look up numbers never looked up (a lookup that failed, or lookups switched on later); how many stored.

    Stops at the first failure (the provider is likely down for all of them); the next run goes on.
    """
    if not settings.LINE_TYPE_LOOKUP:
        return 0
    now = now or timezone.now()
    backend = get_backend()
    # Not the numbers added a moment ago: their own lookup task may still be on its way.
    pending = (
        PhoneNumber.objects.filter(line_type_checked_at__isnull=True, created_at__lt=now - timedelta(minutes=5))
        .select_related("organization")
        .order_by("created_at")[:limit]
    )
    done: set[tuple[int, str]] = set()
    for phone in pending:
        if (phone.organization_id, phone.e164) in done:
            continue
        try:
            if not line_type_lookup(phone_number=phone, backend=backend, now=now):
                return len(done)  # the backend cannot look up: nothing to retry
        except LineTypeLookupFailed as exc:
            logger.warning("line type lookups paused: %s", exc)
            break
        done.add((phone.organization_id, phone.e164))
    return len(done)


# --- carrier errors ---------------------------------------------------------------------------


def _unreachable_for_days(*, message: Message, code: str, now: datetime) -> tuple[int, timedelta] | None:
    """(failures, span) when the number failed as unreachable often enough, over enough days, to stop."""
    failed = Message.objects.filter(
        organization_id=message.organization_id,
        to_number=message.to_number,
        direction=Message.Direction.OUTBOUND,
        error_code=code,
    ).filter(Q(status=Message.Status.FAILED) | Q(status=Message.Status.UNDELIVERED))
    seen = failed.aggregate(first=Min("failed_at"), last=Max("failed_at"))
    count = failed.count()
    if count < settings.UNREACHABLE_MARK_AFTER_FAILURES or seen["first"] is None:
        return None
    span = (seen["last"] or now) - seen["first"]
    if span < timedelta(days=settings.UNREACHABLE_MARK_AFTER_DAYS):
        return None
    return count, span


def carrier_error_act(*, message: Message, error: ProviderError, now: datetime | None = None) -> str:
    """Do what the provider's error means for ``message``, a text that failed; returns the action taken.

    - the person blocked us at the carrier: consent revoked, source carrier (``carrier_opt_out_record``);
    - the number cannot get texts (unknown, landline): marked not textable on every record holding it;
    - unreachable: after ``UNREACHABLE_MARK_AFTER_FAILURES`` failures over ``UNREACHABLE_MARK_AFTER_DAYS``
      days, marked not textable (a phone switched off for a day is not a dead number);
    - filtered as spam: the text, and its template, flagged for a manager;
    - the sender is not registered or verified: the facility's sender flagged, its next texts refused.
    """
    now = now or timezone.now()
    action = error.action
    if action == ACT_REVOKE_CONSENT:
        carrier_opt_out_record(
            message=message, evidence=f"{error.description} (message {message.pk}, code {error.code})"
        )
    elif action == ACT_MARK_NOT_TEXTABLE:
        phone_numbers_mark_not_textable(
            organization=message.organization, number=message.to_number, reason=error.description, now=now
        )
    elif action == ACT_COUNT_UNREACHABLE:
        found = _unreachable_for_days(message=message, code=error.code, now=now)
        if found is None:
            return ""
        count, span = found
        phone_numbers_mark_not_textable(
            organization=message.organization,
            number=message.to_number,
            reason=f"the phone was unreachable {count} times over {span.days} days",
            now=now,
        )
    elif action == ACT_FLAG_CONTENT:
        Message.objects.filter(pk=message.pk).update(flagged_as_spam=True)
        message.flagged_as_spam = True
        if message.template_id:
            MessageTemplate.objects.filter(pk=message.template_id, flagged_at__isnull=True).update(
                flagged_at=now, flag_reason=f"{error.description} (text {message.pk})"[:300]
            )
    elif action == ACT_FLAG_SENDER and message.facility:
        facility_sender_flag(facility=message.facility, reason=error.description, now=now)
    return action


def carrier_opt_out_record(*, message: Message, evidence: str) -> None:
    """The provider says the person unsubscribed at their carrier: revoke consent, source ``carrier``.

    The person's own opt-out (docs/ARCHITECTURE.md rule 2): only their START undoes it. Called by
    the send path and by the status callback alike (through ``carrier_error_act``).
    """
    consent_revoke(
        organization=message.organization,
        number=message.to_number,
        source=ConsentEvent.Source.CARRIER,
        evidence=evidence,
    )
