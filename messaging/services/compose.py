"""Composing and queueing texts: the final body, the refusals, the outbox row."""

from __future__ import annotations

import contextlib
import functools
import logging
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ServiceError
from core.fastsql import insert
from core.formats import display_date, display_moment
from core.phonenumbers import is_valid, present
from core.tracing import current_request_id
from interactions.models import Consent, Customer, Facility, History, Organization, PhoneNumber, owner_kwargs
from interactions.selectors import ConsentState
from interactions.services import consent_status, history_entry, user_display_name
from interactions.signals import announce_on_commit

from ..backends import MEDIA_REJECTED
from ..compliance.engine import recipient_rules, recipient_time_zone, send_refusal, texts_counted
from ..models import TOKEN_LENGTH, Media, Message, MessageMedia, MessageTemplate, UnsubscribeLink
from ..rendering import merge_context, render, template_validate
from ..segments import MAX_CHARACTERS, Measure, measure
from ..selectors import SendState, number_send_state
from ..signals import message_status_changed
from .conversations import conversation_touch, conversation_touch_statements
from .media import media_for_message
from .numbers import line_type_refresh_before_text

logger = logging.getLogger(__name__)

LINK_PREFIX = "\nUnsubscribe: "
# The new text's id inside ``core.fastsql.insert``'s statement: its first row (``t0``) returns it.
_NEW_TEXT_ID = "(SELECT id FROM t0)"


# --- composing ------------------------------------------------------------------------------


def unsubscribe_link_get_or_create(*, organization: Organization, number) -> UnsubscribeLink:
    """The one unsubscribe link of a number in an organization (created on first use)."""
    link, _ = UnsubscribeLink.objects.get_or_create(organization=organization, number=number)
    return link


def _consent_and_send_state(*, organization: Organization, number) -> tuple[ConsentState, SendState]:
    """The number's consent and the rest of ``number_send_state``; one query when texting is allowed.

    No model instances on the common path (granted); a refusal reads the full consent state, with
    its dates, for the message.
    """
    state = number_send_state(organization_id=organization.pk, number=number)
    if state.consent_status != Consent.Status.GRANTED:
        return consent_status(organization=organization, number=number), state
    return ConsentState(number=str(number), status=state.consent_status), state


def _placeholder_link_url() -> str:
    # Same length as a real token, so the counter shows exactly what will be sent.
    return UnsubscribeLink(token="x" * TOKEN_LENGTH).url


def _link_url_for_preview(*, organization: Organization, number) -> str:
    link = UnsubscribeLink.objects.filter(organization=organization, number=number).first()
    return link.url if link else _placeholder_link_url()


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


def template_preview(
    *,
    organization: Organization,
    body: str,
    agent: AbstractBaseUser | None = None,
    person: Customer | None = None,
) -> Draft:
    """A template body rendered for a sample record, link appended, with its length figures.

    ``person`` defaults to ``template_sample_person``; a list of templates passes it once for all.
    Raises ``ServiceError`` (naming the merge field) when the body does not validate.
    """
    template_validate(body)
    person = person or template_sample_person(organization=organization)
    text = render(body, merge_context(person=person, agent=agent))
    final = with_link(text, _placeholder_link_url())
    return Draft(text=final, measure=measure(final))


# --- refusals -------------------------------------------------------------------------------


def _display_zone(phone_number: PhoneNumber):
    """Dates about a person are written in their facility's zone, on the card and in the panel alike."""
    owner = phone_number.owner if (phone_number.lead_id or phone_number.customer_id) else None
    return zoneinfo.ZoneInfo(owner.facility.time_zone) if owner is not None else None


def consent_refusal(state: ConsentState, *, phone_number: PhoneNumber) -> ServiceError | None:
    """Why ``phone_number`` may not be texted now, or ``None`` when it may."""
    if state.is_granted:
        return None
    national = phone_number.national
    tz = _display_zone(phone_number)
    if state.person_opted_out:
        return ServiceError(
            "opted_out",
            f"{national} opted out on {display_date(state.person_opted_out_at, tz=tz)}. They can opt back in by "
            "texting START to this number; nobody else can grant it for them.",
            field="phone_number",
            opted_out_at=state.person_opted_out_at,
        )
    if state.is_revoked:
        return ServiceError(
            "no_consent",
            f"Text permission for {national} was withdrawn on {display_date(state.at, tz=tz)}. "
            "Record new permission before texting.",
            field="phone_number",
        )
    return ServiceError(
        "no_consent",
        f"There is no text permission on record for {national}. Ask the person and record it first.",
        field="phone_number",
    )


def open_request_refusal(*, phone_number: PhoneNumber, reply_id: int | None) -> ServiceError | None:
    """A reply from this number (``reply_id``, from ``number_send_state``) asked, in plain words, not
    to be texted, and no agent resolved it yet.

    Nothing goes to the number until an agent opts it out or marks the reply "not a request"
    with a note (``reply_flag_dismiss``).
    """
    if reply_id is None:
        return None
    body = Message.objects.filter(pk=reply_id).values_list("body", flat=True).first() or ""
    return ServiceError(
        "open_request",
        f"{phone_number.national} replied “{body.strip()[:80]}”, which reads like a request to stop "
        "texting. Opt the number out, or mark the reply “not a request” with a note, before texting it.",
        field="phone_number",
        reply=reply_id,
    )


def sendability_refusal(*, phone_number: PhoneNumber, facility: Facility) -> ServiceError | None:
    """Why no text can go to ``phone_number`` from ``facility`` whoever asks: the number cannot get
    texts (``not_textable``), or the facility's sender is not registered (``sender_not_registered``).
    """
    if refusal := facility.sender_refusal:
        return ServiceError("sender_not_registered", refusal, field="phone_number")
    if reason := phone_number.not_textable:
        return ServiceError("not_textable", reason, field="phone_number", line_type=phone_number.line_type)
    return None


def compliance_refusal(
    *, phone_number: PhoneNumber, at: datetime, exclude_id: int | None = None, out_only: bool = False
) -> ServiceError | None:
    """Why ``phone_number`` may not be texted at ``at`` under the texting laws and the organization's
    own rules (``messaging.compliance``), or ``None``: ``quiet_hours`` or ``frequency_cap``, each
    with ``next_allowed_at`` and naming the rule that refused."""
    owner = phone_number.owner
    return texting_refusal(
        organization=phone_number.organization,
        number=phone_number.number,
        facility=owner.facility,
        owner=owner,
        at=at,
        exclude_id=exclude_id,
        out_only=out_only,
    )


def texting_refusal(
    *,
    organization: Organization,
    number,
    facility: Facility | None,
    owner,
    at: datetime,
    exclude_id: int | None = None,
    out_only: bool = False,
) -> ServiceError | None:
    """``compliance_refusal`` for a number given by its parts (the worker's claim reads them off the text)."""
    recipient = recipient_rules(organization=organization, number=number, facility=facility, owner=owner)
    sent = []
    if recipient.cap is not None:
        sent = texts_counted(
            organization=organization, number=number, until=at, exclude_id=exclude_id, out_only=out_only
        )
    refusal = send_refusal(recipient=recipient, at=at, sent=sent)
    if refusal is None:
        return None
    return ServiceError(
        refusal.code,
        refusal.message,
        field="send_at",
        next_allowed_at=refusal.next_allowed_at,
        jurisdiction=refusal.jurisdiction,
    )


def _check_send_time(*, phone_number: PhoneNumber, send_at: datetime | None, now: datetime) -> datetime | None:
    if send_at is not None:
        if timezone.is_naive(send_at):
            raise ServiceError("invalid_send_at", "Give the send time with a time zone.", field="send_at")
        if send_at <= now:
            send_at = None  # "now" or the past: send right away, under the same rules
        elif send_at > now + timedelta(days=90):
            raise ServiceError("invalid_send_at", "A text can be scheduled at most 90 days ahead.", field="send_at")
    refusal = compliance_refusal(phone_number=phone_number, at=send_at or now)
    if refusal is not None:
        raise refusal
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
    media: Sequence[Media] = (),
    now: datetime | None = None,
) -> Message:
    """Queue a text to ``phone_number`` (or schedule it for ``send_at``).

    ``media``: pictures (an MMS, one message whatever its length; a template's picture comes first),
    checked by ``media_for_message``; every refusal below applies to it as to any text.

    Refuses with a ``ServiceError`` (nothing written) when: the body is empty, the template is
    inactive, there is no consent or the person opted out, the number cannot get texts (a
    landline, or the carrier said so: ``not_textable``), the facility's sender is not registered
    (``sender_not_registered``), it is outside the recipient's texting hours or over a cap
    (``compliance_refusal``: the law of their state and the organization's own), or the final text
    (merge fields filled, unsubscribe link appended) is over 1,600 characters, or the same text is
    already scheduled for the same person, number and time (``duplicate_schedule``: an agent's
    second "Schedule for …", or the workflow's automatic text). The send itself happens in
    ``send_message`` after commit.
    """
    now = now or timezone.now()
    text = _text_to_send(phone_number=phone_number, sent_by=sent_by, body=body, template=template)
    template_media = [template.media] if template is not None and template.media_id else []
    pictures = media_for_message(organization=phone_number.organization, media=[*template_media, *media])
    link_token = _send_state_once_allowed(phone_number=phone_number, now=now).link_token
    send_at = _check_send_time(phone_number=phone_number, send_at=send_at, now=now)
    # A first text's link is made below; a new token is as long as the placeholder, so the size is exact.
    size = _measure_within_limit(
        with_link(text, UnsubscribeLink(token=link_token).url if link_token else _placeholder_link_url())
    )

    rows = functools.partial(
        _rows_of_text,
        phone_number=phone_number,
        text=text,
        size=size,
        pictures=pictures,
        template=template,
        sent_by=sent_by,
        send_at=send_at,
        idempotency_key=idempotency_key,
        now=now,
    )
    # The common text (its number texted before, now, no pictures): one statement writes the text, its
    # history entry and the person's conversation summary, atomic by itself (``_queued_in_one_statement``).
    if link_token is not None and send_at is None and not pictures:
        message, entry = rows(final=with_link(text, UnsubscribeLink(token=link_token).url))
        if _queued_in_one_statement(message, entry):
            _announce_queued(message)
            return message
    # One transaction: a first text's unsubscribe link, the text and its history entry (one statement,
    # ``core.fastsql.insert``), its pictures, and the person's conversation summary (``conversation_touch``).
    with transaction.atomic():
        if link_token is None:
            organization = phone_number.organization
            link_token = unsubscribe_link_get_or_create(organization=organization, number=phone_number.number).token
        final = with_link(text, UnsubscribeLink(token=link_token).url)
        if send_at is not None:
            _refuse_duplicate_schedule(phone_number=phone_number, body=final, send_at=send_at)
        message, entry = rows(final=final)
        _insert_with_its_history(message, entry, idempotency_key=idempotency_key)
        if pictures:
            MessageMedia.objects.bulk_create(
                MessageMedia(organization_id=message.organization_id, message=message, media=item, position=index)
                for index, item in enumerate(pictures)
            )
        conversation_touch(message)
        _announce_queued(message)
    return message


def _rows_of_text(
    *,
    phone_number: PhoneNumber,
    final: str,
    text: str,
    size: Measure,
    pictures: Sequence[Media],
    template: MessageTemplate | None,
    sent_by: AbstractBaseUser | None,
    send_at: datetime | None,
    idempotency_key: str | None,
    now: datetime,
) -> tuple[Message, History]:
    """The text's outbox row and its history entry, not saved yet."""
    message = _outbox_row(
        phone_number=phone_number,
        body=final,
        size=size,
        template=template,
        sent_by=sent_by,
        send_at=send_at,
        idempotency_key=idempotency_key,
        now=now,
    )
    message.media_count, message.segments = (len(pictures), 1) if pictures else (0, size.segments)
    entry = _history_of_text(phone_number=phone_number, text=text, sent_by=sent_by, send_at=send_at, now=now)
    return message, entry


def _queued_in_one_statement(message: Message, entry: History) -> bool:
    """The text, its history entry and its conversation summary in one statement (PostgreSQL:
    ``core.fastsql.insert`` with ``conversation_touch_statements``): no BEGIN, no COMMIT, and the
    summary's row locked only while that statement runs. ``False``, nothing written, when it can't
    be one statement (SQLite, a receiver of the rows' signals) or it failed on a unique key (a
    repeated Idempotency-Key, two first texts of one person at once): the transaction below writes
    the text then, and says which. Inside a caller's transaction a savepoint keeps that usable."""
    try:
        with contextlib.nullcontext() if transaction.get_autocommit() else transaction.atomic():
            return insert(message, entry, then=lambda: conversation_touch_statements(message, new_id=_NEW_TEXT_ID))
    except IntegrityError:
        return False


def _announce_queued(message: Message) -> None:
    """Once committed: the text's status to listeners (webhooks), a queued text to the worker."""
    announce_on_commit(message_status_changed, Message, message=message, status=message.status)
    if message.status == Message.Status.QUEUED:
        send_on_commit(message.pk)


def _refuse_duplicate_schedule(*, phone_number: PhoneNumber, body: str, send_at: datetime) -> None:
    """A text already scheduled for the same person, number, time and words is not scheduled twice.

    The person would get the same text twice at the same minute (a double click on "Schedule for …",
    or an agent repeating the follow-up a workflow already holds for the window's opening).
    """
    twin = (
        Message.objects.filter(
            organization=phone_number.organization,
            to_number=phone_number.number,
            status=Message.Status.SCHEDULED,
            send_at=send_at,
            body=body,
            **owner_kwargs(phone_number.owner),
        )
        .select_related("sent_by")
        .first()
    )
    if twin is None:
        return
    who = "a workflow" if twin.sent_by is None and not twin.actor_name else (twin.actor_name or "an agent")
    local = send_at.astimezone(recipient_time_zone(number=phone_number.number, facility=phone_number.owner.facility))
    raise ServiceError(
        "duplicate_schedule",
        f"The same text to {phone_number.national} is already scheduled for {display_moment(local)} "
        f"(by {who}). Cancel that one or change the text or time.",
        field="send_at",
        status=409,
        message_id=twin.pk,
    )


def _text_to_send(
    *, phone_number: PhoneNumber, sent_by: AbstractBaseUser | None, body: str, template: MessageTemplate | None
) -> str:
    """The text as typed or as the template fills in for this person; refused for an archived person,
    an empty text or an invalid number."""
    owner = phone_number.owner
    if owner.archived_at is not None:
        raise ServiceError(
            "archived",
            f"{owner.full_name}’s record is archived: archived people are not texted.",
            field="phone_number",
        )
    if template is None and not (body or "").strip():
        raise ServiceError("empty_body", "Type a message or pick a template.", field="body")
    if not present(phone_number.number) or not is_valid(phone_number.number):
        raise ServiceError(
            "invalid_number", f"{phone_number.number} is not a valid phone number.", field="phone_number"
        )
    text = template_body_for(template=template, phone_number=phone_number, agent=sent_by) if template else body
    if not text.strip():
        raise ServiceError(
            "empty_body", "The template fills in to an empty text for this person; type a message.", field="body"
        )
    return text


def _send_state_once_allowed(*, phone_number: PhoneNumber, now: datetime) -> SendState:
    """The number's send state, once consent, an open plain-words request and sendability (the line
    type, the facility's sender) allow a text; otherwise the refusal is raised."""
    consent, state = _consent_and_send_state(organization=phone_number.organization, number=phone_number.number)
    refusal = consent_refusal(consent, phone_number=phone_number) or open_request_refusal(
        phone_number=phone_number, reply_id=state.open_request
    )
    if refusal:
        raise refusal
    # Before the first text after the stored line type went stale (never blocks: failures are retried later).
    line_type_refresh_before_text(phone_number=phone_number, now=now)
    refusal = sendability_refusal(phone_number=phone_number, facility=phone_number.owner.facility)
    if refusal:
        raise refusal
    return state


def _measure_within_limit(final: str) -> Measure:
    """The final text's length figures; refused over the 1,600-character limit, saying by how much."""
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
    return size


def _outbox_row(
    *,
    phone_number: PhoneNumber,
    body: str,
    size: Measure,
    template: MessageTemplate | None,
    sent_by: AbstractBaseUser | None,
    send_at: datetime | None,
    idempotency_key: str | None,
    now: datetime,
) -> Message:
    """The text's outbox row, not saved yet: queued now, or scheduled for ``send_at``."""
    facility = phone_number.owner.facility
    return Message(
        organization=phone_number.organization,
        direction=Message.Direction.OUTBOUND,
        lead=phone_number.lead,
        customer=phone_number.customer,
        phone_number=phone_number,
        facility=facility,
        to_number=phone_number.number,
        from_number=facility.sms_sender_number if present(facility.sms_sender_number) else "",
        body=body,
        template=template,
        status=Message.Status.SCHEDULED if send_at else Message.Status.QUEUED,
        segments=size.segments,
        encoding=size.encoding,
        sent_by=sent_by if sent_by is not None and sent_by.is_authenticated else None,
        actor_name=user_display_name(sent_by),
        idempotency_key=idempotency_key,
        send_at=send_at,
        queued_at=None if send_at else now,
        request_id=current_request_id(),
    )


def _history_of_text(
    *, phone_number: PhoneNumber, text: str, sent_by: AbstractBaseUser | None, send_at: datetime | None, now: datetime
) -> History:
    """The history entry of a text sent or scheduled (its time in the person's zone), not saved yet."""
    if send_at:
        local = send_at.astimezone(
            recipient_time_zone(number=phone_number.number, facility=phone_number.owner.facility)
        )
        when = f"scheduled for {display_moment(local)}"
    else:
        when = "sent"
    return history_entry(
        owner=phone_number.owner,
        kind=History.Kind.TEXT,
        agent=sent_by,
        phone_number=phone_number,
        summary=f"Text {when} to {phone_number.national}: {text[:140]}",
        occurred_at=now,
    )


def _insert_with_its_history(message: Message, entry: History, *, idempotency_key: str | None) -> None:
    """The text and its history entry in one statement; a repeated Idempotency-Key is refused (409)."""
    try:
        # The savepoint only guards the Idempotency-Key's unique index (a refusal leaves the
        # caller's transaction usable); without a key nothing can collide.
        with transaction.atomic() if idempotency_key else contextlib.nullcontext():
            insert(message, entry)
    except IntegrityError as exc:
        raise ServiceError(
            "duplicate", "A text with this Idempotency-Key was already queued.", field="idempotency_key", status=409
        ) from exc


def send_on_commit(message_id: int) -> None:
    """Hand the send to Celery once the row is committed (the worker must be able to see it)."""
    from ..tasks import send_message

    def enqueue() -> None:
        try:
            send_message.delay(message_id)
        except Exception:  # the row is saved: the stuck-row sweeper sends it once the broker is back
            logger.exception("could not hand message %s to the worker; the sweeper will retry it", message_id)

    transaction.on_commit(enqueue)


def message_resend_without_media(*, message: Message, sent_by: AbstractBaseUser | None) -> Message:
    """Send a text again without its pictures, after the carrier refused them (too large, a wrong
    type, unreachable: ``media_rejected``); the same words go as a plain text under every check of
    a new text (``message_queue``). Refused (409 ``not_resendable``) for any other text, and for one
    already sent again (a second click sends nothing twice)."""
    resendable = (
        message.direction == Message.Direction.OUTBOUND
        and message.media_count > 0
        and message.status in (Message.Status.FAILED, Message.Status.UNDELIVERED)
        and message.failure_reason == MEDIA_REJECTED
        and message.phone_number_id is not None
    )
    if not resendable:
        raise ServiceError(
            "not_resendable",
            "Only a text whose picture the carrier refused can be sent again without it.",
            status=409,
        )
    assert message.phone_number is not None
    text = message.body.rsplit(LINK_PREFIX, 1)[0]
    again = Message.objects.filter(
        organization_id=message.organization_id,
        to_number=message.to_number,
        created_at__gt=message.created_at,
        direction=Message.Direction.OUTBOUND,
        media_count=0,
        body=message.body,
    ).first()
    if again is not None:
        raise ServiceError(
            "not_resendable", "This text was already sent again without its picture.", status=409, message_id=again.pk
        )
    return message_queue(phone_number=message.phone_number, sent_by=sent_by, body=text)
