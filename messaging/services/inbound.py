"""What Twilio tells us: delivery receipts, inbound replies and the STOP/START/HELP keywords.

The webhook views (``messaging/views/webhooks.py``) check the signature and call the two
services here, ``message_status_update`` and ``inbound_receive``. Both are safe to run twice
with the same payload: a status only moves forward, and an inbound text is stored once per
``MessageSid`` (a repeated webhook changes nothing).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.errors import ServiceError
from core.fastsql import insert
from core.formats import display_date
from core.tracing import request_id_bound
from interactions.models import ConsentEvent, Facility, History, Organization, PhoneNumber
from interactions.services import (
    consent_grant,
    consent_revoke,
    consent_status,
    history_entry,
    phone_numbers_confirmed_by_reply,
)
from interactions.signals import announce_on_commit

from ..backends import describe_provider_error
from ..keywords import Keyword, OptOutWords, keyword_classify, opt_out_due, opt_out_words_classify
from ..models import Message
from ..segments import MAX_CHARACTERS, measure
from ..selectors import (
    inbound_linked_record,
    inbound_number,
    inbound_number_holders,
    inbound_organization,
    message_by_provider_sid,
    reply_route,
)
from ..signals import message_status_changed
from .conversations import conversation_touch
from .numbers import carrier_error_act

logger = logging.getLogger(__name__)


# --- delivery receipts --------------------------------------------------------------------------

# Twilio's MessageStatus values onto ours. "accepted"/"queued"/"scheduled"/"sending" all mean the
# provider has it but it is not out yet; our worker already marked it "sent" on acceptance, so they
# never move a row backwards (RANK). "read" (WhatsApp/RCS) is delivered; "partially_delivered" is
# not fully delivered but not failed either.
TWILIO_STATUS = {
    "accepted": Message.Status.SENDING,
    "scheduled": Message.Status.SENDING,
    "queued": Message.Status.SENDING,
    "sending": Message.Status.SENDING,
    "sent": Message.Status.SENT,
    "partially_delivered": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERED,
    "failed": Message.Status.FAILED,
    "canceled": Message.Status.FAILED,
}


# Every status callback (two or three per text) starts with this locked read. provider_sid is
# unique: at most one row, so no ORDER BY.
def _by_provider_sid(sid: str) -> list[Message]:
    return list(Message.objects.select_for_update().filter(provider_sid=sid).order_by()[:2])


def message_status_update(
    *,
    provider_sid: str,
    provider_status: str,
    error_code: str = "",
    error_message: str = "",
    now: datetime | None = None,
) -> Message | None:
    """Apply one Twilio status callback to the outbound text with that SID.

    The status only moves forward (``Message.can_move_to``): a late ``sent`` after
    ``delivered``, or the same callback twice, changes nothing. ``undelivered``/``failed`` keep
    Twilio's ``ErrorCode`` and a readable reason; an error whose reason is that the person
    unsubscribed at the carrier also revokes consent (``carrier_opt_out_record``, as the send path).
    Returns the message, or ``None`` for an unknown SID or status (the caller still answers 200,
    so Twilio stops retrying).
    """
    status = TWILIO_STATUS.get((provider_status or "").strip().lower())
    if not provider_sid or status is None:
        logger.info("status callback ignored: sid=%r status=%r", provider_sid, provider_status)
        return None
    now = now or timezone.now()
    with transaction.atomic():
        found = _by_provider_sid(provider_sid)
        message = found[0] if found else None
        if message is None:
            logger.info("status callback for unknown message %s (%s)", provider_sid, provider_status)
            return None
        with request_id_bound(message.request_id):  # the id of the request that queued the text
            return _status_apply(
                message,
                provider_sid=provider_sid,
                status=status,
                error_code=error_code,
                error_message=error_message,
                now=now,
            )


def _status_apply(
    message: Message, *, provider_sid: str, status: str, error_code: str, error_message: str, now: datetime
) -> Message:
    """``message_status_update`` for the locked row."""
    logger.info("message %s status callback: %s (provider sid %s)", message.pk, status, message.provider_sid)
    if message.direction != Message.Direction.OUTBOUND or not message.can_move_to(status):
        return message  # late, repeated or out of order: the row already knows better
    code = (error_code or "").strip()
    failure = describe_provider_error(code) if status in (Message.Status.UNDELIVERED, Message.Status.FAILED) else None
    error = {}
    if failure and code:
        error = {
            "error_code": code[:32],
            "error_message": (error_message or "").strip()[:500] or failure.description,
        }
    message.save(update_fields=message.move_to(status, now=now, **error))
    if failure and code:
        # The same table as a refused send: revoke consent, mark the number, flag the text or the sender.
        carrier_error_act(message=message, error=failure, now=now)
    return message


# --- inbound texts --------------------------------------------------------------------------


# --- inbound texts --------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    """What ``inbound_receive`` did. ``reply`` is the text to answer with in TwiML ('' = none)."""

    message: Message | None  # None: no organization owns the receiving number, nothing stored
    created: bool = False  # False for a repeated webhook (or nothing stored)
    keyword: Keyword | None = None
    reply: str = ""


@dataclass(frozen=True)
class _Incoming:
    """One incoming text as the webhook gives it, its numbers parsed (``None``: not a phone number)."""

    provider_sid: str
    to_number: str
    from_number: str
    body: str
    segments: int
    now: datetime
    media_urls: tuple[str, ...]
    to: ParsedNumber | None
    sender: ParsedNumber | None

    def evidence(self, characters: int) -> str:
        """The consent ledger's note of what was texted (the first ``characters`` of it)."""
        return f"Texted “{self.body.strip()[:characters]}” to {self.to_number} (message {self.provider_sid})"


def inbound_receive(
    *,
    provider_sid: str,
    from_number: str,
    to_number: str,
    body: str,
    messaging_service_sid: str = "",
    opt_out_type: str = "",
    segments: int = 1,
    media_urls: Sequence[str] = (),
    now: datetime | None = None,
) -> InboundResult:
    """Store one inbound text, act on its keyword and note it on every record holding the number.

    - The organization comes from ``inbound_organization``; with none, nothing is stored (the
      webhook logs it and answers with empty TwiML).
    - The text is stored once per ``provider_sid``: a repeated webhook stores nothing, changes
      no consent and adds no history, but gets the same reply.
    - STOP/STOPALL/UNSUBSCRIBE/CANCEL/END/QUIT/REVOKE/OPTOUT revoke consent for the number in
      the organization (source ``sms_keyword``); START/UNSTOP/YES grant it again (the only way
      back after the person's own opt-out); HELP/INFO answer with ``Organization.help_reply``.
      Twilio's ``OptOutType`` (Advanced Opt-Out, which may have custom keywords) is honoured too.
    - A reply built around one of the FCC's words ("stop texting me", "opt me out") revokes at once
      (source ``sms_words``); a longer one that only contains one, or a request in other words
      ("don't text me"), is flagged for an agent, due in 10 business days (``opt_out_due_at``).
    - Each lead and customer of the organization holding the sender's number gets a History
      entry; a sender nobody holds is kept and listed as unmatched.
    - Pictures (``media_urls``) are fetched by a task after commit (``inbound_media_fetch``).
    """
    text = _Incoming(
        provider_sid=provider_sid,
        to_number=to_number,
        from_number=from_number,
        body=body or "",
        segments=max(1, segments),
        media_urls=tuple(media_urls),
        now=now or timezone.now(),
        to=inbound_number(to_number),
        sender=inbound_number(from_number),
    )
    organization, facility = inbound_organization(
        to_number=to_number,
        from_number=from_number,
        messaging_service_sid=messaging_service_sid,
        to=text.to,
        sender=text.sender,
    )
    keyword = _keyword_of(body, opt_out_type=opt_out_type)
    if organization is None:
        logger.warning(
            "inbound text %s to %s (service %r) from %s: no organization owns the number; not stored",
            provider_sid,
            to_number,
            messaging_service_sid,
            from_number,
        )
        return InboundResult(message=None, keyword=keyword)
    reply = organization.help_reply if keyword == Keyword.HELP else ""

    # A repeated webhook is found by the unique MessageSid when its text is inserted, first thing in
    # the transaction below: it then changes nothing and gets the stored text (no read before, for
    # the one time in very many that Twilio sends a text twice).
    holders = inbound_number_holders(organization=organization, sender=text.sender)
    linked = inbound_linked_record(organization=organization, sender=text.sender, holders=holders)
    filed_at = _filed_at(facility, linked=linked)
    words = opt_out_words_classify(body) if keyword is None else None
    try:
        with transaction.atomic():
            message = _store(text, organization=organization, filed_at=filed_at, linked=linked, words=words)
            outcome = _act_on_what_it_says(text, message, keyword=keyword, words=words)
            if text.sender is not None:  # a reply: the number is still the person's (see NUMBER_RECONFIRM_AFTER_DAYS)
                phone_numbers_confirmed_by_reply(organization=organization, number=text.sender, now=text.now)
            _note_on_their_history(text, holders=holders, outcome=outcome)
    except IntegrityError:
        # The same webhook again (a retry, or twice at once): the text is stored already.
        existing = message_by_provider_sid(provider_sid=provider_sid)
        if existing is None:
            raise
        return InboundResult(message=existing, keyword=keyword, reply=reply)
    return InboundResult(message=message, created=True, keyword=keyword, reply=reply)


def _fetch_pictures_on_commit(message_id: int, urls: list[str]) -> None:
    """Hand the text's pictures to a worker once the text is committed (the webhook does not wait for them)."""
    from ..tasks import fetch_inbound_media

    def enqueue() -> None:
        try:
            fetch_inbound_media.delay(message_id, urls)
        except Exception:  # the text is stored; its pictures show as not fetched
            logger.exception("could not hand the pictures of message %s to the worker", message_id)

    transaction.on_commit(enqueue)


# Twilio's OptOutType (Advanced Opt-Out) names the keyword its own lists found, custom ones included.
_OPT_OUT_TYPES = {"stop": Keyword.STOP, "start": Keyword.START, "help": Keyword.HELP}


def _keyword_of(body: str, *, opt_out_type: str) -> Keyword | None:
    """The text's keyword: Twilio's ``OptOutType`` when it sends one, else what the text is."""
    return _OPT_OUT_TYPES.get((opt_out_type or "").strip().lower()) or keyword_classify(body)


def _filed_at(facility: Facility | None, *, linked: PhoneNumber | None) -> dict:
    """The facility a text is filed under: the receiving number's; routed by a messaging service, the person's."""
    if facility is None and linked is not None:
        return {"facility_id": linked.owner.facility_id}
    return {"facility": facility}


def _facility_zone(message: Message) -> ZoneInfo | None:
    """The zone of the facility a text is filed under: a flagged request's business days are counted there."""
    facility = message.facility if message.facility_id is not None else None
    return ZoneInfo(facility.time_zone) if facility is not None else None


def _store(
    text: _Incoming,
    *,
    organization: Organization,
    filed_at: dict,
    linked: PhoneNumber | None,
    words: OptOutWords | None,
) -> Message:
    """Insert the text as received (a repeated MessageSid fails the INSERT) and announce it on commit.

    ``filed_at``: the facility (``facility`` or ``facility_id``) the text is filed under, in whose time
    zone a flagged request's business days are counted.
    """
    flagged = words == OptOutWords.FLAG
    message = Message(
        organization=organization,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        provider_sid=text.provider_sid,
        lead_id=linked.lead_id if linked else None,
        customer_id=linked.customer_id if linked else None,
        phone_number=linked,
        **filed_at,
        to_number=text.to if text.to is not None else text.to_number,
        from_number=text.sender if text.sender is not None else text.from_number,
        body=text.body,
        segments=text.segments,
        media_count=len(text.media_urls),
        flagged_opt_out_request=flagged,
        received_at=text.now,
    )
    if flagged:
        message.opt_out_due_at = opt_out_due(text.now, _facility_zone(message))
    insert(message)  # one INSERT (core/fastsql.py); a repeated MessageSid fails it (IntegrityError)
    conversation_touch(message)  # the inbox's summary, in the webhook's transaction
    if text.media_urls:  # an MMS: fetched once committed, so the webhook answers at once
        _fetch_pictures_on_commit(message.pk, list(text.media_urls))
    announce_on_commit(message_status_changed, Message, message=message, status=message.status)
    return message


def _act_on_what_it_says(
    text: _Incoming, stored: Message, *, keyword: Keyword | None, words: OptOutWords | None
) -> str:
    """Change consent for a keyword or a plain-words revocation; returns what happened, for the history entry.

    ``stored``: the text as just stored (its organization; a flagged request's due date, counted in its
    facility's zone, is said in that zone).
    """
    organization = stored.organization
    outcome = ""
    if text.sender is not None:
        outcome = _apply_keyword(
            keyword=keyword, organization=organization, sender=text.sender, evidence=text.evidence(100)
        )
    elif keyword in (Keyword.STOP, Keyword.START):
        logger.warning("keyword from %r cannot change consent: not a phone number", text.from_number)
    if words == OptOutWords.REVOKE and text.sender is not None:
        consent_revoke(
            organization=organization,
            number=text.sender,
            source=ConsentEvent.Source.SMS_WORDS,
            evidence=text.evidence(300),
        )
        outcome = "asked in plain words not to be texted: opted out; only their own START opts them back in"
    if words == OptOutWords.FLAG and stored.opt_out_due_at is not None:
        outcome = (
            "may be asking not to be texted: read it and record the opt-out if that is what they want "
            f"(due {display_date(stored.opt_out_due_at, tz=_facility_zone(stored))})"
        )
    return outcome


def _apply_keyword(*, keyword: Keyword | None, organization: Organization, sender: ParsedNumber, evidence: str) -> str:
    """Change consent for a STOP/START keyword; returns what happened, for the history entry."""
    if keyword == Keyword.STOP:
        consent_revoke(
            organization=organization, number=sender, source=ConsentEvent.Source.SMS_KEYWORD, evidence=evidence
        )
        return "opted out of texts; only their own START opts them back in"
    if keyword == Keyword.START:
        if consent_status(organization=organization, number=sender).is_granted:
            return ""  # a "yes" in a conversation that already has permission is just a reply
        consent_grant(
            organization=organization, number=sender, source=ConsentEvent.Source.SMS_KEYWORD, evidence=evidence
        )
        return "opted back in to texts"
    if keyword == Keyword.HELP:
        return "sent the help reply"
    return ""


def _note_on_their_history(text: _Incoming, *, holders: list[PhoneNumber], outcome: str) -> None:
    """A History entry for every lead and customer holding the number, in one statement."""
    entries = []
    for phone in holders:
        summary = f"Text received from {phone.national}: “{text.body.strip()[:500]}”"
        entries.append(
            history_entry(
                phone_number=phone,
                kind=History.Kind.TEXT,
                summary=f"{summary} — {outcome}." if outcome else summary,
                occurred_at=text.now,
            )
        )
    if entries:
        insert(*entries)  # every holder's entry in one statement


# --- a simulated reply ----------------------------------------------------------------------------

# The MessageSid of a simulated reply: Twilio's shape (34 characters, "SM…"), and the record shows it
# was made up ("SMdemo…"), whatever it said.
SIMULATED_SID_PREFIX = "SMdemo"


def inbound_simulate(*, phone_number: PhoneNumber, body: str, now: datetime | None = None) -> InboundResult:
    """A reply from ``phone_number`` as Twilio's inbound webhook would deliver it, for demos.

    ``make run`` sets no Twilio auth token, so the signed webhook refuses every post; this is how a
    newcomer sees a person answer (``manage.py demo_reply``, and the panel's "Simulate a reply" with
    ``DEBUG`` on). It goes through ``inbound_receive`` like any reply, so STOP, START, HELP and a
    plain-words request act as real ones do. The reply is addressed where a real one would be
    (``reply_route``) and must be filed in the number's own organization, or nothing is kept.
    Raises ``ServiceError``: an empty body, one longer than a text, or no sender that routes a reply.
    """
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise ServiceError("empty_body", "Type what the person answers.", field="body")
    size = measure(text)
    if size.too_long:
        raise ServiceError(
            "too_long", f"A text has at most {MAX_CHARACTERS:,} characters; this has {size.characters:,}.", field="body"
        )
    to_number, service = reply_route(phone_number)
    with transaction.atomic():
        result = inbound_receive(
            provider_sid=SIMULATED_SID_PREFIX + uuid.uuid4().hex[:28],
            from_number=phone_number.e164,
            to_number=to_number,
            body=text,
            messaging_service_sid=service,
            segments=size.segments,  # at most 24: a text within the limit
            now=now,
        )
        if result.message is None or result.message.organization_id != phone_number.organization_id:
            # Routed to no organization, or to another one (a shared service): the error undoes it all.
            raise ServiceError(
                "no_sender",
                "A reply can't reach this organization: give the facility an SMS sender number "
                "(or the organization a messaging service) first.",
                field="phone_number",
            )
    return result
