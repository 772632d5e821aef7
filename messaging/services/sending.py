"""Sending queued texts (called by the worker) and the sweepers that keep the outbox moving."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from redis import RedisError

from core.errors import ServiceError
from core.formats import display_moment
from core.tracing import request_id_bound
from interactions.models import Consent

from ..backends import LookupUnsupported, SendError, describe_provider_error, get_backend
from ..models import Message
from ..selectors import media_link
from ..throttle import throttle_acquire
from .compose import send_on_commit, texting_refusal
from .confirmation import confirmation_refusal
from .media import message_media
from .numbers import carrier_error_act

logger = logging.getLogger(__name__)


# --- sending (called by the worker) ---------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    status: str
    retry_in: float | None = None  # seconds, when the send should be tried again
    throttled: bool = False  # the sender's rate limit, not a failure: no attempt was used


_CONSENT_NUMBER = Consent._meta.get_field("number")
_CONSENT_SQL = (
    f"SELECT status, person_opted_out_at FROM {Consent._meta.db_table} WHERE organization_id = %s AND number = %s"
)


def _fail_without_consent(message: Message, now: datetime) -> bool:
    """Mark a locked message ``failed`` if its number may no longer be texted; True if it was."""
    # Two columns, no join: this runs for every send, twice when the send waited for its slot.
    # One row at most (unique per organization and number).
    with connection.cursor() as cursor:
        cursor.execute(_CONSENT_SQL, [message.organization_id, _CONSENT_NUMBER.get_prep_value(message.to_number)])
        row = cursor.fetchone()
    if row is not None and row[0] == Consent.Status.GRANTED:
        return False
    person_opted_out = row is not None and row[1] is not None
    fields = message.move_to(
        Message.Status.FAILED,
        now=now,
        error_code="opted_out" if person_opted_out else "no_consent",
        error_message="Not sent: the person opted out before it went out."
        if person_opted_out
        else "Not sent: text permission was withdrawn before it went out.",
    )
    message.save(update_fields=fields)
    return True


def _fail_if_archived(message: Message, now: datetime) -> bool:
    """Mark a locked message ``failed`` if its person was archived while it waited; True if it was."""
    owner = message.lead or message.customer
    if owner is None or owner.archived_at is None:
        return False
    fields = message.move_to(
        Message.Status.FAILED,
        now=now,
        error_code="archived",
        error_message="Not sent: the person's record was archived before it went out.",
    )
    message.save(update_fields=fields)
    return True


def _fail_unregistered_sender(message: Message, now: datetime) -> bool:
    """Mark a locked message ``failed`` if its facility's sender was flagged unregistered while it waited."""
    refusal = message.facility.sender_refusal if message.facility_id else ""
    if not refusal:
        return False
    fields = message.move_to(
        Message.Status.FAILED, now=now, error_code="sender_not_registered", error_message=f"Not sent: {refusal}"[:500]
    )
    message.save(update_fields=fields)
    return True


def _hold_for_texting_rules(message: Message, now: datetime) -> bool:
    """Put a locked message back to ``scheduled`` if its recipient's texting hours closed while it
    waited, or a cap filled up; it goes at the next allowed moment, never dropped."""
    refusal = texting_refusal(
        organization=message.organization,
        number=message.to_number,
        facility=message.facility,
        owner=message.lead or message.customer,  # its address, when the text still names the person
        at=now,
        exclude_id=message.pk,
        out_only=True,
    )
    if refusal is None:
        return False
    allowed = refusal.extra["next_allowed_at"]
    if allowed is None:  # the organization's hours never meet the law's: fail it, saying so
        message.save(
            update_fields=message.move_to(
                Message.Status.FAILED, now=now, error_code=refusal.code, error_message=refusal.message[:500]
            )
        )
        return True
    why = "texting hours closed" if refusal.code == "quiet_hours" else "the 24-hour cap filled up"
    fields = message.move_to(
        Message.Status.SCHEDULED,
        now=now,
        send_at=allowed,
        error_code=refusal.code,
        error_message=f"Held until {display_moment(allowed)}: {why} before it went out.",
    )
    message.save(update_fields=fields)
    return True


def _fail_late_confirmation(message: Message, now: datetime) -> bool:
    """The opt-out confirmation goes within 5 minutes and inside texting hours, or not at all."""
    refused = confirmation_refusal(message=message, event=message.confirms_event, now=now)
    if not refused:
        return False
    message.save(
        update_fields=message.move_to(
            Message.Status.FAILED, now=now, error_code="quiet_hours", error_message=refused[:500]
        )
    )
    return True


# Every send starts with this read of the text with its organization, facility and person, locked:
# by primary key, so no ORDER BY.
def _claim_read(pk: int) -> Message | None:
    rows = list(
        Message.objects.select_for_update(of=("self",))
        .select_related("organization", "facility", "lead", "customer")
        .filter(pk=pk, direction=Message.Direction.OUTBOUND)
        .order_by()[:1]
    )
    return rows[0] if rows else None


def message_claim(*, message_id: int, now: datetime | None = None) -> Message | None:
    """Lock a queued message and mark it ``sending``; ``None`` if it is not (or no longer) queued.

    The row lock plus the status check is what makes a second delivery of the same task
    harmless: only one worker ever moves a row from ``queued`` to ``sending``. Consent is
    checked again here (a STOP may have arrived while the text waited), and so are the texting
    rules (a text that waited past the end of the window, or past a filled cap, is held until it
    may go). The opt-out confirmation skips consent but not the hours, and goes within 5 minutes or never.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # By primary key: no ORDER BY (the model's default ordering) to compile or run. The opt-out
        # confirmation's event is read only for a confirmation (``_fail_late_confirmation``).
        message = _claim_read(message_id)
        if message is None or message.status != Message.Status.QUEUED:
            return None
        if message.confirms_event_id is not None:
            # The opt-out confirmation: the one text sent after the revocation, so consent is not asked.
            if _fail_late_confirmation(message, now):
                return None
        elif (
            _fail_if_archived(message, now)
            or _fail_without_consent(message, now)
            or _fail_unregistered_sender(message, now)
            or _hold_for_texting_rules(message, now)
        ):
            return None
        message.save(update_fields=message.move_to(Message.Status.SENDING, now=now, attempts=message.attempts + 1))
    return message


CANCELABLE = frozenset({Message.Status.SCHEDULED, Message.Status.QUEUED})


def message_cancel(*, message: Message, now: datetime | None = None) -> Message:
    """Take back a scheduled or queued text before the worker claims it; 409 once sending started.

    The row lock orders it with ``message_claim``: whichever comes first wins, and the claim only
    takes ``queued`` rows, so a canceled text is never sent. Canceling twice answers the same.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update(of=("self",)).get(pk=message.pk)
        if locked.status == Message.Status.CANCELED:
            return locked
        if locked.direction != Message.Direction.OUTBOUND or locked.status not in CANCELABLE:
            raise ServiceError(
                "not_cancelable",
                f"This text is {locked.get_status_display().lower()}: only a scheduled or queued text can be "
                "canceled, and sending has started.",
                status=409,
                message_status=locked.status,
            )
        locked.save(update_fields=locked.move_to(Message.Status.CANCELED, now=now))
    return locked


def _unclaim(message: Message, *, reason: str = "") -> None:
    """Give a claimed message back to the queue without using up an attempt (throttled)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.SENDING:
            return
        fields = locked.move_to(Message.Status.QUEUED, now=now, attempts=max(0, locked.attempts - 1), sending_at=None)
        if reason:
            locked.error_message = reason[:500]
            fields.append("error_message")
        locked.save(update_fields=fields)


def _backoff(attempt: int) -> float:
    """Seconds before retry ``attempt``: exponential with jitter, capped below the stuck-row sweep."""
    cap = max(2.0, settings.SMS_STUCK_AFTER_SECONDS / 3)
    return min(cap, 2.0**attempt) * random.uniform(0.5, 1.5)


# The ledger is read again before the provider call when the last read is older than this.
LAST_LOOK_AFTER_SECONDS = 0.25

# ``_last_look`` found the message no longer ours (a sweeper or callback moved it): send nothing.
_GONE = SendOutcome(status="gone")


def _last_look(message: Message) -> SendOutcome | None:
    """Read the ledger again under the message's lock: ``None`` to go on, else why the send stops.

    Locks the message row only (``of``): a plain FOR UPDATE would lock the joined organization
    row too, and every send of the organization would queue behind it (bench/: 48 → 200+/s).
    """
    with transaction.atomic():
        locked = Message.objects.select_for_update(of=("self",)).select_related("organization").get(pk=message.pk)
        if locked.status != Message.Status.SENDING:
            return _GONE
        if locked.confirms_event_id is None and _fail_without_consent(locked, timezone.now()):
            return SendOutcome(status=locked.status)
    return None


def _take_send_slot(message: Message, backend, max_wait: float, *, checked: float) -> SendOutcome | None:
    """Wait for the sender's rate limit; ``None`` once the call may go out, else how to retry.

    The ledger is read again *before* asking for a slot once the last read is stale, never
    between a granted slot and the call: the provider must see the sends of one number as
    evenly spaced as the limiter granted them (bench/: the per-sender limit held per second).
    """
    waited = 0.0
    while True:
        if time.monotonic() - checked > LAST_LOOK_AFTER_SECONDS:
            stop = _last_look(message)
            if stop is not None:
                return stop
            checked = time.monotonic()
        try:
            wait = throttle_acquire(sender=backend.sender_for(message))
        except RedisError as exc:
            logger.warning("rate limiter unavailable, message %s waits: %s", message.pk, exc)
            _unclaim(message, reason="Waiting: the rate limiter (Redis) is unreachable.")
            return SendOutcome(status=Message.Status.QUEUED, retry_in=5.0 * random.uniform(1, 2), throttled=True)
        if wait <= 0:
            return None
        if waited + wait > max_wait:
            _unclaim(message)
            # Jitter spreads the waiting texts of one sender so they do not all wake at once.
            return SendOutcome(status=Message.Status.QUEUED, retry_in=wait + random.uniform(0, 1), throttled=True)
        time.sleep(wait)
        waited += wait


def message_send(*, message_id: int, backend=None, throttle_wait: float | None = None) -> SendOutcome | None:
    """Claim, re-check consent, take a slot of the sender's rate limit, call the backend, record the outcome.

    Returns ``None`` when there was nothing to send (already handled, refused, or held for
    quiet hours). ``throttle_wait`` caps how long to wait for the rate limit before handing the
    text back to the queue (default ``SMS_THROTTLE_MAX_WAIT``).

    Consent is read by the claim and, when the text then waited for its rate-limit slot, read
    again before the slot is taken (``_take_send_slot``): every call goes out at most
    ``LAST_LOOK_AFTER_SECONDS`` plus one Redis round trip after the ledger said yes.
    """
    message = message_claim(message_id=message_id)
    if message is None:
        return None
    # Log under the request that queued the text, whichever task, retry or sweeper sends it.
    with request_id_bound(message.request_id):
        return _send_claimed(message, backend=backend, throttle_wait=throttle_wait)


def _send_claimed(message: Message, *, backend, throttle_wait: float | None) -> SendOutcome | None:
    checked = time.monotonic()
    backend = backend or get_backend()
    if backend.throttled:
        max_wait = settings.SMS_THROTTLE_MAX_WAIT if throttle_wait is None else throttle_wait
        stop = _take_send_slot(message, backend, max_wait, checked=checked)
    elif time.monotonic() - checked > LAST_LOOK_AFTER_SECONDS:
        stop = _last_look(message)
    else:
        stop = None
    if stop is _GONE:
        return None
    if stop is not None:
        return stop
    return _call_provider(message, backend)


def _call_provider(message: Message, backend) -> SendOutcome:
    # An MMS: one signed link per picture, made now so each is valid for MEDIA_LINK_MAX_AGE_SECONDS
    # from the send (a scheduled text's links do not age while it waits).
    urls = [media_link(media) for media in message_media(message)]
    try:
        result = backend.send(message, media_urls=urls) if urls else backend.send(message)
    except SendError as exc:
        return _record_send_error(message, exc)
    return _record_sent(message, sid=result.sid, now=timezone.now())


def _record_sent(message: Message, *, sid: str, now: datetime) -> SendOutcome:
    # The common case in one statement: still ``sending`` (ours since the claim) becomes ``sent``,
    # announced with the claimed instance (no re-read). Only a row something else moved meanwhile
    # (a fast status callback, a sweeper) needs the locked read-modify-write below.
    if message.move_from(
        Message.Status.SENDING, Message.Status.SENT, now=now, provider_sid=sid, error_code="", error_message=""
    ):
        logger.info("message %s sent: provider sid %s", message.pk, sid)
        return SendOutcome(status=Message.Status.SENT)
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        locked.provider_sid = sid
        fields = ["provider_sid", "updated_at"]
        if locked.can_move_to(Message.Status.SENT):
            fields += locked.move_to(Message.Status.SENT, now=now)
        if locked.error_code or locked.error_message:  # an earlier, retried failure no longer applies
            locked.error_code, locked.error_message = "", ""
            fields += ["error_code", "error_message"]
        locked.save(update_fields=list(dict.fromkeys(fields)))
    logger.info("message %s sent: provider sid %s (status already %s)", message.pk, sid, locked.status)
    return SendOutcome(status=locked.status)


def _record_send_error(message: Message, exc: SendError) -> SendOutcome:
    now = timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.SENDING:  # a sweeper or callback got there first
            return SendOutcome(status=locked.status)
        # ``code`` is the provider's own (kept for the record and the API); decisions use ``reason``.
        error = {"error_code": exc.code, "error_message": exc.message[:500]}
        if exc.retryable and locked.attempts < settings.SMS_MAX_ATTEMPTS:
            locked.save(update_fields=locked.move_to(Message.Status.QUEUED, now=now, **error))
            logger.info("message %s not sent (%s), will retry: %s", locked.pk, exc.code, exc.message)
            return SendOutcome(status=locked.status, retry_in=exc.retry_after or _backoff(locked.attempts))
        if exc.unknown_outcome:
            locked.save(update_fields=locked.move_to(Message.Status.NEEDS_RECONCILIATION, now=now, **error))
            logger.warning("message %s needs reconciliation: %s", locked.pk, exc.message)
            return SendOutcome(status=locked.status)
        if exc.retryable:
            error["error_message"] = f"Gave up after {locked.attempts} attempts: {exc.message}"[:500]
        locked.save(update_fields=locked.move_to(Message.Status.FAILED, now=now, **error))
        logger.info("message %s failed (%s): %s", locked.pk, exc.code, locked.error_message)
        # What the failure teaches (revoke consent, mark the number, flag the text or the sender): the
        # same table as a delivery receipt's error code.
        carrier_error_act(message=locked, error=describe_provider_error(exc.code), now=now)
    return SendOutcome(status=locked.status)


# --- sweepers (celery beat) -------------------------------------------------------------


@transaction.atomic
def messages_release_scheduled(*, now: datetime | None = None, limit: int = 500) -> int:
    """Move scheduled texts whose time has come to ``queued`` and queue their send.

    Scheduled texts wait as rows, never as long Celery ETAs: a broker restart loses nothing.
    """
    now = now or timezone.now()
    due = list(
        Message.objects.select_for_update(skip_locked=True)
        .filter(status=Message.Status.SCHEDULED, send_at__lte=now)
        .order_by("send_at")
        .values_list("pk", flat=True)[:limit]
    )
    Message.objects.filter(pk__in=due).move_to(Message.Status.QUEUED, now=now)
    for pk in due:
        send_on_commit(pk)
    return len(due)


@transaction.atomic
def messages_requeue_stuck(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Queue again the sends of texts left ``queued`` too long (a lost broker message, a killed worker).

    ``queued_at`` is moved to now so the next sweep leaves them alone for another period; a
    duplicate task is harmless because only one claim can move a row out of ``queued``.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SMS_STUCK_AFTER_SECONDS)
    stuck = list(
        Message.objects.select_for_update(skip_locked=True)
        .filter(status=Message.Status.QUEUED, queued_at__lt=cutoff)
        .order_by("queued_at")
        .values_list("pk", flat=True)[:limit]
    )
    Message.objects.filter(pk__in=stuck).update(queued_at=now, updated_at=now)
    for pk in stuck:
        send_on_commit(pk)
    if stuck:
        logger.info("requeued %d texts stuck in queued", len(stuck))
    return len(stuck)


def sending_stuck_after() -> timedelta:
    """How long a row may stay ``sending`` before the sweeper reconciles it.

    Never shorter than a live worker can legitimately take (rate-limit wait plus the provider
    timeout plus a margin), so a slow send is never mistaken for a lost one.
    """
    floor = settings.SMS_THROTTLE_MAX_WAIT + settings.TWILIO_TIMEOUT_SECONDS + 5
    return timedelta(seconds=max(settings.SMS_SENDING_STUCK_AFTER_SECONDS, floor))


RECONCILE_FOR = timedelta(days=1)  # after this, an unresolved row is left to a person


def message_reconcile(*, message_id: int, backend=None, now: datetime | None = None) -> str | None:
    """Settle a text whose send outcome was lost: ``sending`` past the threshold, or ``needs_reconciliation``.

    Asks the provider (``backend.lookup``) whether it holds the text. Found: adopt its SID and
    mark it ``sent``. Not found: a ``sending`` row never reached the provider (the worker died
    before the call), so it is queued again; a ``needs_reconciliation`` row (the provider may
    still have it) stays for a person. The backend cannot look up: ``needs_reconciliation``.
    Returns the row's new status, or ``None`` if it was not eligible (or locked elsewhere).
    """
    now = now or timezone.now()
    backend = backend or get_backend()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status__in=[Message.Status.SENDING, Message.Status.NEEDS_RECONCILIATION])
            .first()
        )
        if message is None:
            return None
        since = message.sending_at or message.queued_at or message.created_at
        if message.status == Message.Status.SENDING and since > now - sending_stuck_after():
            return None  # a live worker may still be on it
        # The organization's own texts: another's never match (its body carries its own unsubscribe
        # link), and this reads through message_org_to_created.
        taken = frozenset(
            Message.objects.filter(
                organization_id=message.organization_id, to_number=message.to_number, provider_sid__isnull=False
            )
            .exclude(pk=message.pk)
            .values_list("provider_sid", flat=True)
        )
        try:
            found = backend.lookup(message, since=since, exclude_sids=taken)
        except LookupUnsupported as exc:
            if message.status == Message.Status.SENDING:
                fields = message.move_to(
                    Message.Status.NEEDS_RECONCILIATION,
                    now=now,
                    error_code="lost_in_flight",
                    error_message="The worker stopped while sending and the SMS backend cannot tell whether the "
                    f"text went out ({exc}). Check with the provider before sending it again.",
                )
                message.save(update_fields=fields)
            return message.status
        except Exception as exc:  # the provider is unreachable: try again at the next sweep
            logger.warning("could not reconcile message %s: %s", message.pk, exc)
            if message.status == Message.Status.SENDING and since < now - RECONCILE_FOR:
                fields = message.move_to(
                    Message.Status.NEEDS_RECONCILIATION,
                    now=now,
                    error_code="lost_in_flight",
                    error_message="The worker stopped while sending and the provider could not be asked for a day. "
                    "Check with the provider before sending it again.",
                )
                message.save(update_fields=fields)
            return message.status
        if found is not None:
            fields = message.move_to(
                Message.Status.SENT, now=now, provider_sid=found.sid, error_code="", error_message=""
            )
            message.save(update_fields=fields)
            logger.info("message %s reconciled: the provider has it as %s", message.pk, found.sid)
        elif message.status == Message.Status.SENDING:
            message.save(update_fields=message.move_to(Message.Status.QUEUED, now=now, sending_at=None))
            send_on_commit(message.pk)
            logger.info("message %s never reached the provider: queued again", message.pk)
        return message.status


def messages_reconcile_stuck(*, now: datetime | None = None, backend=None, limit: int = 200) -> int:
    """Reconcile rows stuck in ``sending`` and recent ``needs_reconciliation`` rows; returns how many settled."""
    now = now or timezone.now()
    backend = backend or get_backend()
    candidates = list(
        Message.objects.filter(
            Q(status=Message.Status.SENDING, sending_at__lt=now - sending_stuck_after())
            | Q(status=Message.Status.NEEDS_RECONCILIATION, updated_at__gte=now - RECONCILE_FOR)
        )
        .order_by("sending_at")
        .values_list("pk", flat=True)[:limit]
    )
    settled = 0
    for pk in candidates:
        status = message_reconcile(message_id=pk, backend=backend, now=now)
        if status in (Message.Status.SENT, Message.Status.QUEUED):
            settled += 1
    return settled
