"""Every write of the messaging side: queueing texts, sending them, unsubscribe links."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from redis import RedisError

from interactions.errors import ServiceError
from interactions.models import ConsentEvent, Customer, Facility, History, Organization, PhoneNumber
from interactions.services import ConsentState, consent_revoke, consent_status, history_record

from .backends import LookupUnsupported, SendError, get_backend
from .models import Message, MessageTemplate, UnsubscribeLink
from .quiet_hours import next_allowed_at, recipient_time_zone, window_of
from .rendering import merge_context, render, template_validate
from .segments import MAX_CHARACTERS, Measure, measure
from .throttle import throttle_acquire

logger = logging.getLogger(__name__)

LINK_PREFIX = "\nUnsubscribe: "


# --- composing ------------------------------------------------------------------------------


def unsubscribe_link_get_or_create(*, organization: Organization, number) -> UnsubscribeLink:
    """The one unsubscribe link of a number in an organization (created on first use)."""
    link, _ = UnsubscribeLink.objects.get_or_create(organization=organization, number=number)
    return link


def _link_url_for_preview(*, organization: Organization, number) -> str:
    link = UnsubscribeLink.objects.filter(organization=organization, number=number).first()
    # Same length as a real token, so the counter shows exactly what will be sent.
    return link.url if link else UnsubscribeLink(token="x" * len(UnsubscribeLink().token)).url


def with_link(text: str, url: str) -> str:
    return f"{text.rstrip()}{LINK_PREFIX}{url}"


def template_body_for(*, template: MessageTemplate, phone_number: PhoneNumber, agent: AbstractBaseUser | None) -> str:
    """A template's text rendered for the owner of ``phone_number`` (the link not yet added)."""
    if template.organization_id != phone_number.organization_id:
        raise ServiceError("not_found", "That template does not exist.", field="template", status=404)
    if not template.active:
        raise ServiceError(
            "inactive_template", f"The template “{template.name}” is switched off; pick another one.", field="template"
        )
    template_validate(template.body, field="template")
    return render(template.body, merge_context(person=phone_number.owner, agent=agent))


@dataclass(frozen=True)
class Draft:
    text: str  # the final body: merge fields filled, link appended
    measure: Measure


def message_preview(
    *, phone_number: PhoneNumber, body: str = "", template: MessageTemplate | None = None, agent=None
) -> Draft:
    """The final text and its length figures, exactly as ``message_queue`` would compute them."""
    text = template_body_for(template=template, phone_number=phone_number, agent=agent) if template else body
    url = _link_url_for_preview(organization=phone_number.organization, number=phone_number.number)
    final = with_link(text, url)
    return Draft(text=final, measure=measure(final))


def template_sample_person(*, organization: Organization) -> Customer:
    """The record a template preview is rendered for: the customer owing most (so every field shows), else a sample."""
    customer = (
        Customer.objects.filter(organization=organization)
        .select_related("facility")
        .order_by("-balance_due", "-created_at")
        .first()
    )
    if customer is not None:
        return customer
    facility = Facility.objects.filter(organization=organization).first() or Facility(
        organization=organization, name=organization.name
    )
    return Customer(
        organization=organization,
        facility=facility,
        first_name="Jordan",
        last_name="Sample",
        unit="A101",
        balance_due=Decimal("129.00"),
    )


def template_preview(*, organization: Organization, body: str, agent: AbstractBaseUser | None = None) -> Draft:
    """A template body rendered for a sample record, link appended, with its length figures.

    Raises ``ServiceError`` (naming the merge field) when the body does not validate.
    """
    template_validate(body)
    person = template_sample_person(organization=organization)
    text = render(body, merge_context(person=person, agent=agent))
    final = with_link(text, UnsubscribeLink(token="x" * len(UnsubscribeLink().token)).url)
    return Draft(text=final, measure=measure(final))


# --- refusals -------------------------------------------------------------------------------


def _date(value: datetime) -> str:
    return timezone.localtime(value).strftime("%b %-d, %Y")


def consent_refusal(state: ConsentState, *, phone_number: PhoneNumber) -> ServiceError | None:
    """Why ``phone_number`` may not be texted now, or ``None`` when it may."""
    if state.is_granted:
        return None
    national = phone_number.national
    if state.person_opted_out:
        return ServiceError(
            "opted_out",
            f"{national} opted out on {_date(state.person_opted_out_at)}. They can opt back in by texting START "
            "to this number; nobody else can grant it for them.",
            field="phone_number",
            opted_out_at=state.person_opted_out_at,
        )
    if state.status == "revoked":
        return ServiceError(
            "no_consent",
            f"Text permission for {national} was withdrawn on {_date(state.at)}. Record new permission before texting.",
            field="phone_number",
        )
    return ServiceError(
        "no_consent",
        f"There is no text permission on record for {national}. Ask the person and record it first.",
        field="phone_number",
    )


def _check_send_time(
    *, phone_number: PhoneNumber, facility, send_at: datetime | None, now: datetime
) -> datetime | None:
    tz = recipient_time_zone(number=phone_number.number, facility=facility)
    organization = phone_number.organization
    if send_at is not None:
        if timezone.is_naive(send_at):
            raise ServiceError("invalid_send_at", "Give the send time with a time zone.", field="send_at")
        if send_at <= now:
            send_at = None  # "now" or the past: send right away, under the same rules
        elif send_at > now + timedelta(days=90):
            raise ServiceError("invalid_send_at", "A text can be scheduled at most 90 days ahead.", field="send_at")
    at = send_at or now
    allowed = next_allowed_at(now=at, organization=organization, tz=tz)
    if allowed is not None:
        start, end = window_of(organization)
        local = allowed.strftime("%a %b %-d, %-I:%M %p ") + allowed.tzname()
        raise ServiceError(
            "quiet_hours",
            f"It is outside texting hours for this person ({start:%-I:%M %p}–{end:%-I:%M %p} their time). "
            f"The next allowed time is {local}.",
            field="send_at",
            next_allowed_at=allowed,
        )
    return send_at


# --- queueing ------------------------------------------------------------------------------


def message_queue(
    *,
    phone_number: PhoneNumber,
    sent_by: AbstractBaseUser | None,
    body: str = "",
    template: MessageTemplate | None = None,
    send_at: datetime | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Queue a text to ``phone_number`` (or schedule it for ``send_at``).

    Refuses with a ``ServiceError`` (nothing written) when: the body is empty, the template is
    inactive, there is no consent or the person opted out, it is outside quiet hours at the
    recipient, or the final text (merge fields filled, unsubscribe link appended) is over
    1,600 characters. The send itself happens in ``send_message`` after commit.
    """
    now = now or timezone.now()
    organization = phone_number.organization
    owner = phone_number.owner
    if template is None and not (body or "").strip():
        raise ServiceError("empty_body", "Type a message or pick a template.", field="body")
    if not phone_number.number or not phone_number.number.is_valid():
        raise ServiceError(
            "invalid_number", f"{phone_number.number} is not a valid phone number.", field="phone_number"
        )
    text = template_body_for(template=template, phone_number=phone_number, agent=sent_by) if template else body
    if not text.strip():
        raise ServiceError(
            "empty_body", "The template fills in to an empty text for this person; type a message.", field="body"
        )
    refusal = consent_refusal(
        consent_status(organization=organization, number=phone_number.number), phone_number=phone_number
    )
    if refusal:
        raise refusal
    send_at = _check_send_time(phone_number=phone_number, facility=owner.facility, send_at=send_at, now=now)

    with transaction.atomic():
        link = unsubscribe_link_get_or_create(organization=organization, number=phone_number.number)
        final = with_link(text, link.url)
        size = measure(final)
        if size.too_long:
            raise ServiceError(
                "too_long",
                f"The text is {size.characters:,} characters with the unsubscribe link; the limit is "
                f"{MAX_CHARACTERS:,}. Shorten it by {size.characters - MAX_CHARACTERS:,}.",
                field="body",
                characters=size.characters,
                limit=MAX_CHARACTERS,
            )
        status = Message.Status.SCHEDULED if send_at else Message.Status.QUEUED
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    organization=organization,
                    direction=Message.Direction.OUTBOUND,
                    lead=phone_number.lead,
                    customer=phone_number.customer,
                    phone_number=phone_number,
                    facility=owner.facility,
                    to_number=phone_number.number,
                    from_number=owner.facility.sms_sender_number or "",
                    body=final,
                    template=template,
                    status=status,
                    segments=size.segments,
                    encoding=size.encoding,
                    sent_by=sent_by if sent_by is not None and sent_by.is_authenticated else None,
                    idempotency_key=idempotency_key,
                    send_at=send_at,
                    queued_at=None if send_at else now,
                )
        except IntegrityError as exc:
            raise ServiceError(
                "duplicate", "A text with this Idempotency-Key was already queued.", field="idempotency_key", status=409
            ) from exc
        if send_at:
            local = send_at.astimezone(recipient_time_zone(number=phone_number.number, facility=owner.facility))
            when = f"scheduled for {local:%b %-d, %-I:%M %p %Z}"
        else:
            when = "sent"
        history_record(
            owner=owner,
            kind=History.Kind.TEXT,
            agent=sent_by,
            phone_number=phone_number,
            summary=f"Text {when} to {phone_number.national}: {text[:140]}",
            occurred_at=now,
        )
        if status == Message.Status.QUEUED:
            _enqueue_on_commit(message.pk)
    return message


def _enqueue_on_commit(message_id: int) -> None:
    """Hand the send to Celery once the row is committed (the worker must be able to see it)."""
    from .tasks import send_message

    def enqueue() -> None:
        try:
            send_message.delay(message_id)
        except Exception:  # the row is saved: the stuck-row sweeper sends it once the broker is back
            logger.exception("could not hand message %s to the worker; the sweeper will retry it", message_id)

    transaction.on_commit(enqueue)


# --- sending (called by the worker) ---------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    status: str
    retry_in: float | None = None  # seconds, when the send should be tried again
    throttled: bool = False  # the sender's rate limit, not a failure: no attempt was used


def _stamp(message: Message, status: str, now: datetime) -> list[str]:
    message.status = status
    fields = ["status", "updated_at"]
    stamp = {
        Message.Status.QUEUED: "queued_at",
        Message.Status.SENDING: "sending_at",
        Message.Status.SENT: "sent_at",
        Message.Status.DELIVERED: "delivered_at",
        Message.Status.UNDELIVERED: "failed_at",
        Message.Status.FAILED: "failed_at",
        Message.Status.RECEIVED: "received_at",
    }.get(status)
    if stamp:
        setattr(message, stamp, now)
        fields.append(stamp)
    return fields


def _fail_without_consent(message: Message, now: datetime) -> bool:
    """Mark a locked message ``failed`` if its number may no longer be texted; True if it was."""
    state = consent_status(organization=message.organization, number=message.to_number)
    if state.is_granted:
        return False
    fields = _stamp(message, Message.Status.FAILED, now)
    message.error_code = "opted_out" if state.person_opted_out else "no_consent"
    message.error_message = (
        "Not sent: the person opted out before it went out."
        if state.person_opted_out
        else "Not sent: text permission was withdrawn before it went out."
    )
    message.save(update_fields=[*fields, "error_code", "error_message"])
    return True


def _hold_for_quiet_hours(message: Message, now: datetime) -> bool:
    """Put a locked message back to ``scheduled`` if its recipient's texting hours closed while it waited."""
    tz = recipient_time_zone(number=message.to_number, facility=message.facility)
    allowed = next_allowed_at(now=now, organization=message.organization, tz=tz)
    if allowed is None:
        return False
    message.status = Message.Status.SCHEDULED
    message.send_at = allowed
    message.error_code = "quiet_hours"
    message.error_message = f"Held until {allowed:%a %b %-d, %-I:%M %p %Z}: texting hours closed before it went out."
    message.save(update_fields=["status", "send_at", "error_code", "error_message", "updated_at"])
    return True


def message_claim(*, message_id: int, now: datetime | None = None) -> Message | None:
    """Lock a queued message and mark it ``sending``; ``None`` if it is not (or no longer) queued.

    The row lock plus the status check is what makes a second delivery of the same task
    harmless: only one worker ever moves a row from ``queued`` to ``sending``. Consent is
    checked again here (a STOP may have arrived while the text waited), and so are quiet hours
    (a text that waited past the end of the window is held until it opens again).
    """
    now = now or timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("organization", "facility")
            .filter(pk=message_id, direction=Message.Direction.OUTBOUND)
            .first()
        )
        if message is None or message.status != Message.Status.QUEUED:
            return None
        if _fail_without_consent(message, now) or _hold_for_quiet_hours(message, now):
            return None
        fields = _stamp(message, Message.Status.SENDING, now)
        message.attempts += 1
        message.save(update_fields=[*fields, "attempts"])
    return message


def _unclaim(message: Message, *, reason: str = "") -> None:
    """Give a claimed message back to the queue without using up an attempt (throttled)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.SENDING:
            return
        fields = _stamp(locked, Message.Status.QUEUED, now)
        locked.attempts = max(0, locked.attempts - 1)
        locked.sending_at = None
        if reason:
            locked.error_message = reason[:500]
            fields.append("error_message")
        locked.save(update_fields=[*fields, "attempts", "sending_at"])


def _backoff(attempt: int) -> float:
    """Seconds before retry ``attempt``: exponential with jitter, capped below the stuck-row sweep."""
    cap = max(2.0, settings.SMS_STUCK_AFTER_SECONDS / 3)
    return min(cap, 2.0**attempt) * random.uniform(0.5, 1.5)


def _take_send_slot(message: Message, backend, max_wait: float) -> SendOutcome | None:
    """Wait for the sender's rate limit; ``None`` once the call may go out, else how to retry."""
    waited = 0.0
    while True:
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
    """
    message = message_claim(message_id=message_id)
    if message is None:
        return None
    backend = backend or get_backend()
    if backend.throttled:
        max_wait = settings.SMS_THROTTLE_MAX_WAIT if throttle_wait is None else throttle_wait
        held = _take_send_slot(message, backend, max_wait)
        if held is not None:
            return held
    # Last look at the ledger, right before the provider call: a STOP may have landed meanwhile.
    with transaction.atomic():
        locked = Message.objects.select_for_update().select_related("organization").get(pk=message.pk)
        if locked.status != Message.Status.SENDING:
            return None
        if _fail_without_consent(locked, timezone.now()):
            return SendOutcome(status=locked.status)
    try:
        result = backend.send(message)
    except SendError as exc:
        return _record_send_error(message, exc)
    return _record_sent(message, sid=result.sid, now=timezone.now())


def _record_sent(message: Message, *, sid: str, now: datetime) -> SendOutcome:
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        locked.provider_sid = sid
        fields = ["provider_sid", "updated_at"]
        if locked.can_move_to(Message.Status.SENT):
            fields += _stamp(locked, Message.Status.SENT, now)
        if locked.error_code or locked.error_message:  # an earlier, retried failure no longer applies
            locked.error_code, locked.error_message = "", ""
            fields += ["error_code", "error_message"]
        locked.save(update_fields=list(dict.fromkeys(fields)))
    return SendOutcome(status=locked.status)


def _record_send_error(message: Message, exc: SendError) -> SendOutcome:
    now = timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.SENDING:  # a sweeper or callback got there first
            return SendOutcome(status=locked.status)
        locked.error_code, locked.error_message = exc.code, exc.message[:500]
        if exc.retryable and locked.attempts < settings.SMS_MAX_ATTEMPTS:
            fields = _stamp(locked, Message.Status.QUEUED, now)
            locked.save(update_fields=[*fields, "error_code", "error_message"])
            return SendOutcome(status=locked.status, retry_in=exc.retry_after or _backoff(locked.attempts))
        if exc.unknown_outcome:
            locked.status = Message.Status.NEEDS_RECONCILIATION
            locked.save(update_fields=["status", "updated_at", "error_code", "error_message"])
            logger.warning("message %s needs reconciliation: %s", locked.pk, exc.message)
            return SendOutcome(status=locked.status)
        if exc.retryable:
            locked.error_message = f"Gave up after {locked.attempts} attempts: {exc.message}"[:500]
        fields = _stamp(locked, Message.Status.FAILED, now)
        locked.save(update_fields=[*fields, "error_code", "error_message"])
        if exc.code == "21610":  # the carrier says the person unsubscribed (replied STOP to the carrier)
            consent_revoke(
                organization=locked.organization,
                number=locked.to_number,
                source=ConsentEvent.Source.CARRIER,
                evidence=f"Twilio error 21610 on message {locked.pk}",
            )
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
    Message.objects.filter(pk__in=due).update(status=Message.Status.QUEUED, queued_at=now, updated_at=now)
    for pk in due:
        _enqueue_on_commit(pk)
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
        _enqueue_on_commit(pk)
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
        taken = frozenset(
            Message.objects.filter(to_number=message.to_number, provider_sid__isnull=False)
            .exclude(pk=message.pk)
            .values_list("provider_sid", flat=True)
        )
        try:
            found = backend.lookup(message, since=since, exclude_sids=taken)
        except LookupUnsupported as exc:
            if message.status == Message.Status.SENDING:
                message.status = Message.Status.NEEDS_RECONCILIATION
                message.error_code = "lost_in_flight"
                message.error_message = (
                    f"The worker stopped while sending and the SMS backend cannot tell whether the text went out "
                    f"({exc}). Check with the provider before sending it again."
                )
                message.save(update_fields=["status", "error_code", "error_message", "updated_at"])
            return message.status
        except Exception as exc:  # the provider is unreachable: try again at the next sweep
            logger.warning("could not reconcile message %s: %s", message.pk, exc)
            if message.status == Message.Status.SENDING and since < now - RECONCILE_FOR:
                message.status = Message.Status.NEEDS_RECONCILIATION
                message.error_code = "lost_in_flight"
                message.error_message = (
                    "The worker stopped while sending and the provider could not be asked for a day. "
                    "Check with the provider before sending it again."
                )
                message.save(update_fields=["status", "error_code", "error_message", "updated_at"])
            return message.status
        if found is not None:
            message.provider_sid = found.sid
            fields = _stamp(message, Message.Status.SENT, now)
            message.error_code, message.error_message = "", ""
            message.save(update_fields=[*fields, "provider_sid", "error_code", "error_message"])
            logger.info("message %s reconciled: the provider has it as %s", message.pk, found.sid)
        elif message.status == Message.Status.SENDING:
            fields = _stamp(message, Message.Status.QUEUED, now)
            message.sending_at = None
            message.save(update_fields=[*fields, "sending_at"])
            _enqueue_on_commit(message.pk)
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


# --- unsubscribe links ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeOutcome:
    link: UnsubscribeLink
    already: bool  # the person had already opted out: nothing new was written


def unsubscribe_link_use(*, token: str, ip_address: str | None = None, user_agent: str = "") -> UnsubscribeOutcome:
    """Opt the number behind ``token`` out of the link's organization (the POST of ``/u/<token>``).

    Idempotent: once the person has opted out (by this link, STOP or the carrier) a repeat is
    a no-op. A revoke by an agent or the API is not the person's own opt-out, so the link still
    records one (which only the person's START can undo).
    """
    with transaction.atomic():
        link = UnsubscribeLink.objects.select_for_update().select_related("organization").filter(token=token).first()
        if link is None:
            raise ServiceError("not_found", "This unsubscribe link is not valid.", field="token", status=404)
        state = consent_status(organization=link.organization, number=link.number)
        if state.status == "revoked" and state.person_opted_out:
            return UnsubscribeOutcome(link=link, already=True)
        consent_revoke(
            organization=link.organization,
            number=link.number,
            source=ConsentEvent.Source.UNSUBSCRIBE_LINK,
            evidence=f"Confirmed on the unsubscribe page /u/{link.token}",
            ip_address=ip_address,
            user_agent=user_agent,
        )
        if link.used_at is None:
            link.used_at = timezone.now()
            link.save(update_fields=["used_at"])
    return UnsubscribeOutcome(link=link, already=False)


# --- templates ------------------------------------------------------------------------------

_TEMPLATE_FIELDS = ("name", "category", "body", "active")


def _template_save(template: MessageTemplate, update_fields: list[str] | None = None) -> MessageTemplate:
    if not (template.name or "").strip():
        raise ServiceError("required", "Give the template a name.", field="name")
    if template.category not in MessageTemplate.Category.values:
        raise ServiceError(
            "invalid_category",
            f"Choose a category: {', '.join(MessageTemplate.Category.values)}.",
            field="category",
        )
    template_validate(template.body or "", field="body")
    try:
        with transaction.atomic():
            template.save(update_fields=update_fields)
    except IntegrityError as exc:
        raise ServiceError(
            "duplicate_name", f"There is already a template named “{template.name}”.", field="name"
        ) from exc
    return template


def template_create(
    *,
    organization: Organization,
    name: str,
    body: str,
    category: str = MessageTemplate.Category.GENERAL,
    active: bool = True,
) -> MessageTemplate:
    """Create a template after the same checks as the admin: known merge fields, a unique name."""
    template = MessageTemplate(organization=organization, name=name, body=body, category=category, active=active)
    return _template_save(template)


def template_update(*, template: MessageTemplate, **changes) -> MessageTemplate:
    """Change a template's name, category, body or active flag, with the checks of ``template_create``."""
    unknown = set(changes) - set(_TEMPLATE_FIELDS)
    if unknown:
        raise ServiceError("unknown_field", f"These fields can’t be set here: {', '.join(sorted(unknown))}.")
    for name, value in changes.items():
        setattr(template, name, value)
    return _template_save(template, [*changes, "updated_at"] if changes else None)
