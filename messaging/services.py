"""Every write of the messaging side: queueing texts, sending them, unsubscribe links."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from interactions.errors import ServiceError
from interactions.models import ConsentEvent, History, Organization, PhoneNumber
from interactions.services import ConsentState, consent_revoke, consent_status, history_record

from .backends import SendError, get_backend
from .models import Message, MessageTemplate, UnsubscribeLink
from .quiet_hours import next_allowed_at, recipient_time_zone
from .rendering import merge_context, render, template_validate
from .segments import MAX_CHARACTERS, Measure, measure

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
        start, end = organization.quiet_hours_start, organization.quiet_hours_end
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
        when = f"scheduled for {_date(send_at)}" if send_at else "sent"
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
    from .tasks import send_message

    transaction.on_commit(lambda: send_message.delay(message_id))


# --- sending (called by the worker) ---------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    status: str
    retry_in: float | None = None  # seconds, when the send should be tried again


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


def message_claim(*, message_id: int) -> Message | None:
    """Lock a queued message and mark it ``sending``; ``None`` if it is not (or no longer) queued.

    Consent is checked again here: a STOP may have arrived while the text waited.
    """
    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",)).select_related("phone_number").filter(pk=message_id).first()
        )
        if message is None or message.status != Message.Status.QUEUED:
            return None
        state = consent_status(organization=message.organization, number=message.to_number)
        if not state.is_granted:
            fields = _stamp(message, Message.Status.FAILED, now)
            message.error_code = "opted_out" if state.person_opted_out else "no_consent"
            message.error_message = (
                "Not sent: the person opted out before it went out."
                if state.person_opted_out
                else "Not sent: text permission was withdrawn before it went out."
            )
            message.save(update_fields=[*fields, "error_code", "error_message"])
            return None
        fields = _stamp(message, Message.Status.SENDING, now)
        message.attempts += 1
        message.save(update_fields=[*fields, "attempts"])
    return message


def _backoff(attempt: int) -> float:
    import random

    return min(300.0, 2.0**attempt) * random.uniform(0.5, 1.5)  # exponential, with jitter


def message_send(*, message_id: int, backend=None) -> SendOutcome | None:
    """Claim, re-check consent, call the SMS backend and record the outcome.

    Returns ``None`` when there was nothing to send (already handled, or refused).
    """
    message = message_claim(message_id=message_id)
    if message is None:
        return None
    backend = backend or get_backend()
    try:
        result = backend.send(message)
    except SendError as exc:
        return _record_send_error(message, exc)
    now = timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        locked.provider_sid = result.sid
        fields = ["provider_sid", "updated_at"]
        if locked.can_move_to(Message.Status.SENT):
            fields += _stamp(locked, Message.Status.SENT, now)
        locked.save(update_fields=list(dict.fromkeys(fields)))
    return SendOutcome(status=locked.status)


def _record_send_error(message: Message, exc: SendError) -> SendOutcome:
    now = timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
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


@transaction.atomic
def messages_release_scheduled(*, now: datetime | None = None, limit: int = 500) -> int:
    """Move scheduled texts whose time has come to ``queued`` and queue their send."""
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


def messages_requeue_stuck(*, now: datetime | None = None) -> int:
    """Queue again the sends of texts left ``queued`` too long (a lost broker message)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SMS_STUCK_AFTER_SECONDS)
    stuck = list(
        Message.objects.filter(status=Message.Status.QUEUED, queued_at__lt=cutoff).values_list("pk", flat=True)[:1000]
    )
    from .tasks import send_message

    for pk in stuck:
        send_message.delay(pk)  # the claim makes a duplicate delivery harmless
    return len(stuck)


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
