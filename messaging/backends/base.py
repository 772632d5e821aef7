"""The backend contract: ``send(message)`` returns a ``SendResult`` or raises ``SendError``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from messaging.models import Message


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str = "sent"  # the provider's first status: "queued"/"accepted"/"sent" all mean "it has it"


# Why a provider refused or failed a text, in words that do not depend on the provider. Only the
# backend knows its provider's codes; everything above it decides on these.
RECIPIENT_OPTED_OUT = "recipient_opted_out"  # the person unsubscribed at their carrier (a consent revoke)
INVALID_NUMBER = "invalid_number"  # not a number that can receive texts
UNREACHABLE = "unreachable"  # a real number the carrier could not deliver to now (switched off, out of coverage)
LANDLINE = "landline"  # the number is a landline or its carrier cannot receive texts
FILTERED = "filtered"  # the carrier filtered the text as spam or against its policy
SENDER_NOT_REGISTERED = "sender_not_registered"  # the sender is not registered (10DLC) or verified (toll-free)
RATE_LIMITED = "rate_limited"  # the provider asked us to slow down
PROVIDER_UNAVAILABLE = "provider_unavailable"  # the provider, or the way to it, is down
MEDIA_REJECTED = "media_rejected"  # the text's picture was refused (too large, a wrong type, not reachable)
NO_SENDER = "no_sender"  # nothing configured to send from
REFUSED = "refused"  # any other refusal
UNKNOWN = "unknown"  # no answer we could read
# Reasons that mean "this number will not get texts": the card suggests the record's other numbers.
UNREACHABLE_REASONS = frozenset({RECIPIENT_OPTED_OUT, INVALID_NUMBER, UNREACHABLE, LANDLINE})

# What the system does about a provider error, besides failing the text (one action per error, in the
# backend's table; ``messaging.services.carrier_error_act`` carries it out, for a refused send and a
# delivery receipt alike).
ACT_NOTHING = ""
ACT_REVOKE_CONSENT = "revoke_consent"  # the person blocked us at the carrier: consent revoked, source carrier
ACT_MARK_NOT_TEXTABLE = "mark_not_textable"  # the number cannot get texts: it is marked, the card says why
ACT_COUNT_UNREACHABLE = "count_unreachable"  # retried; marked not textable after repeated failures over days
ACT_FLAG_CONTENT = "flag_content"  # the text (and its template) flagged for a manager
ACT_FLAG_SENDER = "flag_sender"  # the facility's sender flagged: its sends are refused until a manager acts

# Line types a lookup answers with (provider-neutral; Twilio's camelCase names map onto these).
LINE_MOBILE = "mobile"
LINE_LANDLINE = "landline"
LINE_FIXED_VOIP = "fixed_voip"
LINE_NON_FIXED_VOIP = "non_fixed_voip"
LINE_TOLL_FREE = "toll_free"
LINE_PERSONAL = "personal"
LINE_PAGER = "pager"
LINE_VOICEMAIL = "voicemail"
LINE_UNKNOWN = "unknown"
LINE_TYPES = (
    LINE_MOBILE,
    LINE_LANDLINE,
    LINE_FIXED_VOIP,
    LINE_NON_FIXED_VOIP,
    LINE_TOLL_FREE,
    LINE_PERSONAL,
    LINE_PAGER,
    LINE_VOICEMAIL,
    LINE_UNKNOWN,
)


@dataclass(frozen=True)
class LineTypeResult:
    """What a line-type lookup found: one of ``LINE_TYPES``, the carrier's name, and whether it is a stand-in."""

    line_type: str
    carrier: str = ""
    demo: bool = False  # the console backend's deterministic stand-in, not a real lookup


class LineTypeUnsupported(Exception):
    """The backend cannot look up line types (nothing is stored; texting goes on as before)."""


class LineTypeLookupFailed(Exception):
    """The lookup could not be done now (provider down, an error answer): retried later, never blocks a text."""


@dataclass(frozen=True)
class ProviderError:
    """What a provider's error code means: a provider-neutral ``reason`` and a sentence for people."""

    code: str
    reason: str
    description: str
    action: str = ACT_NOTHING
    source: str = ""  # where the meaning comes from (the provider's error page)


class SendError(Exception):
    """A provider refusal or failure, classified so the worker knows what to do.

    - ``permanent``: never retry (invalid number, unsubscribed number…).
    - ``retryable``: nothing reached the provider, or it asked us to slow down: retry later.
    - ``unknown_outcome``: the request may have been accepted (timeout after sending): mark it
      ``needs_reconciliation``, never resend blindly.

    ``reason`` says why in provider-neutral words (the constants above); ``code`` is the
    provider's own code, kept on the text for the record and the API, never decided on.
    """

    PERMANENT = "permanent"
    RETRYABLE = "retryable"
    UNKNOWN_OUTCOME = "unknown_outcome"
    RECIPIENT_OPTED_OUT = RECIPIENT_OPTED_OUT

    def __init__(self, message: str, *, kind: str, reason: str = "", code: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.reason = reason or (UNKNOWN if kind == self.UNKNOWN_OUTCOME else REFUSED)
        self.code = code
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return self.kind == self.PERMANENT

    @property
    def retryable(self) -> bool:
        return self.kind == self.RETRYABLE

    @property
    def unknown_outcome(self) -> bool:
        return self.kind == self.UNKNOWN_OUTCOME


class MediaFetchFailed(Exception):
    """A received picture could not be fetched from the provider; ``retryable`` when trying later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class LookupUnsupported(Exception):
    """The backend cannot tell whether it already holds a text (see ``BaseSmsBackend.lookup``)."""


class BaseSmsBackend:
    """Base class for SMS backends; subclasses implement ``send`` and, if they can, ``lookup``."""

    # True when the provider limits how fast one sender may send (``messaging.throttle``).
    throttled = False
    # True when a send or a lookup is a billed request to a real provider. Unknown backends count
    # as paid; ``seed_demo`` refuses to load its fictional people onto one (they would be texted).
    paid = True

    def __init__(self, **kwargs: Any) -> None:
        pass

    def send(self, message: Message, *, media_urls: Sequence[str] = ()) -> SendResult:  # pragma: no cover
        """Send ``message``; ``media_urls``: links the provider fetches the text's pictures from (an MMS)."""
        raise NotImplementedError("subclasses of BaseSmsBackend must implement send()")

    def sender_for(self, message: Message) -> str:
        """The key the per-sender rate limit counts under."""
        return str(message.from_number or "default")

    def lookup(
        self, message: Message, *, since: datetime, exclude_sids: frozenset[str] = frozenset()
    ) -> SendResult | None:
        """The provider's record of ``message`` if it got it (a send whose answer was lost), else ``None``.

        ``since`` is when the send was claimed; ``exclude_sids`` are SIDs other rows already own.
        Raises ``LookupUnsupported`` when the backend cannot look texts up.
        """
        raise LookupUnsupported(f"{type(self).__name__} cannot look up texts it sent")

    def lookup_line_type(self, number: str) -> LineTypeResult:
        """What kind of line ``number`` (E.164) is: mobile, landline… (``LineTypeResult``).

        Raises ``LineTypeUnsupported`` when the backend cannot tell, ``LineTypeLookupFailed`` when
        it could not now (to be retried).
        """
        raise LineTypeUnsupported(f"{type(self).__name__} cannot look up line types")
