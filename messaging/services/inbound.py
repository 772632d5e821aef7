"""What Twilio tells us: delivery receipts, inbound replies and the STOP/START/HELP keywords.

The webhook views (``messaging/views/webhooks.py``) check the signature and call the two
services here, ``message_status_update`` and ``inbound_receive``. Both are safe to run twice
with the same payload: a status only moves forward, and an inbound text is stored once per
``MessageSid`` (a repeated webhook changes nothing).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.formats import display_date
from core.prepared import PreparedQuery, insert_together
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
from ..models import Message
from ..signals import message_status_changed
from .numbers import carrier_error_act

logger = logging.getLogger(__name__)


# --- keywords -------------------------------------------------------------------------------


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


# Twilio's own opt-out, opt-in and help keywords (Advanced Opt-Out uses the same lists).
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
START_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
_KEYWORDS = {
    **dict.fromkeys(STOP_WORDS, Keyword.STOP),
    **dict.fromkeys(START_WORDS, Keyword.START),
    **dict.fromkeys(HELP_WORDS, Keyword.HELP),
}
# Punctuation around a lone keyword ("STOP." / "Stop!") still means the keyword.
_EDGE_PUNCTUATION = ".,!?;:\"'“”‘’()*"


def _normalise(body: str) -> str:
    # NFKC folds full-width and other look-alike letters; typographic apostrophes become plain ones.
    text = unicodedata.normalize("NFKC", body or "").replace("’", "'").replace("‘", "'")
    return " ".join(text.split()).casefold()


def keyword_classify(body: str) -> Keyword | None:
    """The keyword a text *is*, or ``None``.

    A keyword is the whole text, one word, in any case and with any whitespace around it
    (``" stop "`` is STOP; ``"STOP IT NOW"``, ``"stopped"`` and ``"Stop by tomorrow?"`` are
    not keywords). Punctuation around the word and a hyphen inside it are ignored
    (``"Stop."``, ``"opt-out"``).
    """
    word = _normalise(body).strip(_EDGE_PUNCTUATION).replace("-", "")
    if not word or " " in word:
        return None
    return _KEYWORDS.get(word)


# Plain-words requests not to be texted that do not use one of the FCC's words: an agent reads them.
_OPT_OUT_REQUEST = re.compile(
    r"""
      \bstop\b (?: \s+ (?: it | this | that | now | please | pls | all | everything | them | texting | text | texts
                         | txting | txt | messaging | messages | message | msging | sending | contacting | calling
                         | bothering | spamming | harassing ) \b
                 | \W*$ )
    | \b(?: quit | cease | end ) \s+ (?: texting | messaging | contacting | sending ) \b
    | \b(?: do \s+ not | don'?t | never ) \s+ (?: ever \s+ )? (?: text | txt | message | msg | sms | contact | send ) \b
    | \bno \s+ more \s+ (?: texts? | txts? | messages? | msgs? | sms )\b
    | \bremove \s+ (?: me | my \s+ (?: number | phone | cell | \# ) )
    | \btake \s+ (?: me | my \s+ number ) \s+ off\b
    | \bunsubscribe\b
    | \bopt (?: \s* - \s* | \s+ )? (?: me \s+ )? out\b
    | \bleave \s+ me \s+ alone\b
    | \blose \s+ my \s+ number\b
    """,
    re.IGNORECASE | re.VERBOSE,
)

# The words the FCC names as a revocation in a reply (47 CFR 64.1200(a)(12), FCC 24-24); "opt out"
# is two words, joined below.
FCC_WORDS = frozenset({"stop", "quit", "end", "revoke", "optout", "cancel", "unsubscribe"})
# Words that may surround an FCC word in a reply still *built around* it: who, what is sent, politeness.
# Anything else ("Can I cancel my reservation?", "Stop by tomorrow?") makes it a reply that merely
# contains the word, for an agent to read.
_AROUND = frozenset(
    (
        "i",
        "please",
        "pls",
        "plz",
        "me",
        "my",
        "number",
        "this",
        "these",
        "that",
        "them",
        "it",
        "all",
        "any",
        "everything",
        "now",
        "right",
        "away",
        "immediately",
        "asap",
        "texting",
        "text",
        "texts",
        "txt",
        "txts",
        "txting",
        "messaging",
        "messages",
        "message",
        "msg",
        "msgs",
        "sms",
        "sending",
        "contacting",
        "calling",
        "bothering",
        "spamming",
        "from",
        "your",
        "you",
        "list",
        "us",
        "thanks",
        "thank",
        "thx",
        "ty",
        "just",
        "ok",
        "okay",
        "consent",
        "permission",
        "subscription",
        "to",
        "and",
    )
)
_MAX_WORDS = 8  # a longer text is a conversation, not a request: read by an agent


class OptOutWords(StrEnum):
    REVOKE = "revoke"  # built around an FCC word: revokes at once, like a keyword
    FLAG = "flag"  # contains one (or asks in other words): flagged for an agent, due in 10 business days


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z']+", text.replace("-", ""))
    joined: list[str] = []
    for word in words:
        if word == "out" and "opt" in joined:  # "opt out", "opt me out"
            joined[joined.index("opt")] = "optout"
            continue
        joined.append(word)
    return joined


def opt_out_words_classify(body: str) -> OptOutWords | None:
    """How a reply that is not a keyword asks not to be texted, or ``None``.

    ``REVOKE``: at most eight words, one of them an FCC word and every other a word of ``_AROUND``
    ("stop texting me", "please unsubscribe me", "opt me out", "STOP IT NOW").
    ``FLAG``: any other text with an FCC word as a whole word ("Can I cancel my reservation?"),
    or a plain-words request without one ("don't text me", "remove me from your list").
    The corpus in tests/messaging/test_opt_out_words.py pins each choice and its reason.
    """
    if keyword_classify(body) is not None:
        return None
    text = _normalise(body)
    words = _words(text)
    fcc = [w for w in words if w in FCC_WORDS]
    if fcc and len(words) <= _MAX_WORDS and all(w in FCC_WORDS or w in _AROUND for w in words):
        return OptOutWords.REVOKE
    if fcc or _OPT_OUT_REQUEST.search(text):
        return OptOutWords.FLAG
    return None


# A flagged request must be honoured within 10 business days (47 CFR 64.1200(a)(10)). Weekends are
# skipped, public holidays are not: the due date is never later than the law's.
OPT_OUT_DUE_BUSINESS_DAYS = 10


def opt_out_due(received_at: datetime) -> datetime:
    """When a flagged plain-words request must be honoured: 10 business days after it arrived."""
    due, left = received_at, OPT_OUT_DUE_BUSINESS_DAYS
    while left:
        due += timedelta(days=1)
        if due.weekday() < 5:
            left -= 1
    return due


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


# Every status callback (two or three per text) starts with this locked read: a prepared
# statement (core/prepared.py). provider_sid is unique: at most one row, so no ORDER BY.
_BY_PROVIDER_SID = PreparedQuery(
    lambda sid: Message.objects.select_for_update().filter(provider_sid=sid).order_by(), sid=str
)


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
        found = _BY_PROVIDER_SID.fetch(sid=provider_sid)
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


@dataclass(frozen=True)
class InboundResult:
    """What ``inbound_receive`` did. ``reply`` is the text to answer with in TwiML ('' = none)."""

    message: Message | None  # None: no organization owns the receiving number, nothing stored
    created: bool = False  # False for a repeated webhook (or nothing stored)
    keyword: Keyword | None = None
    reply: str = ""


def _parse(raw: str) -> ParsedNumber | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        parsed = ParsedNumber.from_string(raw, region=settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return parsed if parsed.is_valid() else None


# Every inbound text starts here. The sender number is unique across the install: at most one row,
# no ORDER BY (Meta's or first()'s). A prepared statement (core/prepared.py); the number as stored (E.164).
_FACILITY_BY_SENDER = PreparedQuery(
    lambda number: Facility.objects.filter(sms_sender_number=number).select_related("organization").order_by(),
    number=str,
)


def inbound_organization(
    *,
    to_number: str,
    from_number: str,
    messaging_service_sid: str = "",
    to: ParsedNumber | None = None,
    sender: ParsedNumber | None = None,
) -> tuple[Organization | None, Facility | None]:
    """Which organization (and facility, when known) an inbound text belongs to.

    1. ``To`` is a facility's sender number → that facility's organization (a sender number
       belongs to one facility across the install: a unique constraint).
    2. ``MessagingServiceSid`` is an organization's own messaging service → that organization.
    3. ``MessagingServiceSid`` is the install-wide ``TWILIO_MESSAGING_SERVICE_SID`` (shared by the
       organizations without their own) → the organization that last texted the sender through
       it; failing that, the only organization that has the sender's number on a record.
    Otherwise ``(None, None)``: there is nothing to attach the text to.
    ``to`` and ``sender`` are the numbers already parsed, when the caller has them.
    """
    to = to if to is not None else _parse(to_number)
    sender = sender if sender is not None else _parse(from_number)
    if to is not None:
        found = _FACILITY_BY_SENDER.fetch(number=Facility._meta.get_field("sms_sender_number").get_prep_value(to))
        facility = found[0] if found else None
        if facility is not None:
            return facility.organization, facility
    sid = (messaging_service_sid or "").strip()
    if not sid:
        return None, None
    own = Organization.objects.filter(twilio_messaging_service_sid=sid).first()
    if own is not None:
        return own, None
    if sid != settings.TWILIO_MESSAGING_SERVICE_SID or sender is None:
        return None, None
    last = (
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            to_number=sender,
            from_number="",  # sent through the messaging service, not from a facility number
            organization__twilio_messaging_service_sid="",
        )
        .select_related("organization")
        .order_by("-created_at", "-id")
        .first()
    )
    if last is not None:
        return last.organization, None
    holders = set(PhoneNumber.objects.filter(number=sender).values_list("organization_id", flat=True)[:2])
    if len(holders) == 1:
        return Organization.objects.get(pk=holders.pop()), None
    return None, None


def _linked_record(*, organization: Organization, sender: ParsedNumber, holders: list[PhoneNumber]):
    """The record a reply belongs to: the one last texted from, else the only one holding the number."""
    if len(holders) <= 1:  # the last text can only point at the one holder (or at none): no need to ask
        return holders[0] if holders else None
    last = (
        Message.objects.filter(
            organization=organization,
            direction=Message.Direction.OUTBOUND,
            to_number=sender,
            phone_number__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values_list("phone_number_id", flat=True)
        .first()
    )
    by_id = {p.pk: p for p in holders}
    if last in by_id:
        return by_id[last]
    return holders[0] if len(holders) == 1 else None


def _apply_keyword(
    *, keyword: Keyword | None, organization: Organization, sender: ParsedNumber, body: str, evidence: str
) -> str:
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


def inbound_receive(
    *,
    provider_sid: str,
    from_number: str,
    to_number: str,
    body: str,
    messaging_service_sid: str = "",
    opt_out_type: str = "",
    segments: int = 1,
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
    """
    now = now or timezone.now()
    to, sender = _parse(to_number), _parse(from_number)
    organization, facility = inbound_organization(
        to_number=to_number, from_number=from_number, messaging_service_sid=messaging_service_sid, to=to, sender=sender
    )
    keyword = {"stop": Keyword.STOP, "start": Keyword.START, "help": Keyword.HELP}.get(
        (opt_out_type or "").strip().lower()
    ) or keyword_classify(body)
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
    # The records holding the number: their ids are all the text and the history entries need.
    holders = (
        list(PhoneNumber.objects.filter(organization=organization, number=sender).order_by("id"))
        if sender is not None
        else []
    )
    linked = _linked_record(organization=organization, sender=sender, holders=holders) if sender is not None else None
    if facility is None and linked is not None:
        facility_kwargs = {"facility_id": linked.owner.facility_id}  # routed by messaging service: the person's
    else:
        facility_kwargs = {"facility": facility}
    words = opt_out_words_classify(body) if keyword is None else None
    flagged = words == OptOutWords.FLAG
    try:
        with transaction.atomic():
            message = Message(
                organization=organization,
                direction=Message.Direction.INBOUND,
                status=Message.Status.RECEIVED,
                provider_sid=provider_sid,
                lead_id=linked.lead_id if linked else None,
                customer_id=linked.customer_id if linked else None,
                phone_number=linked,
                **facility_kwargs,
                to_number=to if to is not None else to_number,
                from_number=sender if sender is not None else from_number,
                body=body or "",
                segments=max(1, segments),
                flagged_opt_out_request=flagged,
                opt_out_due_at=opt_out_due(now) if flagged else None,
                received_at=now,
            )
            insert_together(message)  # a prepared INSERT; a repeated MessageSid fails it (IntegrityError)
            announce_on_commit(message_status_changed, Message, message=message, status=message.status)
            outcome = ""
            if sender is not None:
                outcome = _apply_keyword(
                    keyword=keyword,
                    organization=organization,
                    sender=sender,
                    body=body,
                    evidence=f"Texted “{(body or '').strip()[:100]}” to {to_number} (message {provider_sid})",
                )
            elif keyword in (Keyword.STOP, Keyword.START):
                logger.warning("keyword from %r cannot change consent: not a phone number", from_number)
            if words == OptOutWords.REVOKE and sender is not None:
                consent_revoke(
                    organization=organization,
                    number=sender,
                    source=ConsentEvent.Source.SMS_WORDS,
                    evidence=f"Texted “{(body or '').strip()[:300]}” to {to_number} (message {provider_sid})",
                )
                outcome = "asked in plain words not to be texted: opted out; only their own START opts them back in"
            if flagged:
                outcome = (
                    "may be asking not to be texted: read it and record the opt-out if that is what they want "
                    f"(due {display_date(opt_out_due(now))})"
                )
            if sender is not None:  # a reply: the number is still the person's (see NUMBER_RECONFIRM_AFTER_DAYS)
                phone_numbers_confirmed_by_reply(organization=organization, number=sender, now=now)
            entries = []
            for phone in holders:
                summary = f"Text received from {phone.national}: “{(body or '').strip()[:500]}”"
                entries.append(
                    history_entry(
                        phone_number=phone,
                        kind=History.Kind.TEXT,
                        summary=f"{summary} — {outcome}." if outcome else summary,
                        occurred_at=now,
                    )
                )
            if entries:
                insert_together(*entries)  # every holder's entry in one statement
    except IntegrityError:
        # The same webhook again (a retry, or twice at once): the text is stored already.
        existing = next(iter(Message.objects.filter(provider_sid=provider_sid).order_by()[:1]), None)
        if existing is None:
            raise
        return InboundResult(message=existing, keyword=keyword, reply=reply)
    return InboundResult(message=message, created=True, keyword=keyword, reply=reply)
