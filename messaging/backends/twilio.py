"""Sends through Twilio's Programmable Messaging with the official ``twilio`` SDK.

Settings: ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_MESSAGING_SERVICE_SID`` (used
when the facility has no sender number of its own), ``TWILIO_TIMEOUT_SECONDS`` and
``TWILIO_API_BASE_URL`` (points the SDK at a Twilio-compatible server, for tests).

Every failure is classified (see ``SendError``):

- 21211 / 21614 (not a valid or not a mobile number), 21610 (the number replied STOP to the
  carrier) and other 4xx refusals are permanent;
- 20429 (too many requests), 21611 (the sender's queue is full), any 5xx, and connection
  errors raised before the request left this machine are worth a retry;
- a timeout or a dropped connection after the request was sent is an unknown outcome: Twilio
  may have accepted the text, so it is never sent again blindly (``needs_reconciliation``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .base import (
    INVALID_NUMBER,
    NO_SENDER,
    PROVIDER_UNAVAILABLE,
    RATE_LIMITED,
    RECIPIENT_OPTED_OUT,
    REFUSED,
    UNKNOWN,
    UNREACHABLE,
    BaseSmsBackend,
    ProviderError,
    SendError,
    SendResult,
)

logger = logging.getLogger(__name__)
# The SDK logs every request and response body at INFO; texts are personal data.
_sdk_logger = logging.getLogger("messaging.backends.twilio.http")
_sdk_logger.setLevel(logging.WARNING)

STATUS_CALLBACK_PATH = "/webhooks/twilio/status/"
INVALID_NUMBER_CODES = {21211, 21614}
UNSUBSCRIBED_CODE = 21610
RETRY_CODES = {20429, 21611}

# Twilio's common error codes (API answers and delivery receipts): the reason, and what the card shows.
TWILIO_ERRORS = {
    "21211": (INVALID_NUMBER, "The number is not a valid phone number."),
    "21408": (REFUSED, "Texting this country is not enabled on the Twilio account."),
    "21610": (RECIPIENT_OPTED_OUT, "The person unsubscribed from this sender (replied STOP to the carrier)."),
    "21614": (INVALID_NUMBER, "The number cannot receive texts (not a mobile number)."),
    "30001": (PROVIDER_UNAVAILABLE, "Twilio's queue for the sender overflowed; the text was not sent."),
    "30002": (REFUSED, "The Twilio account is suspended."),
    "30003": (UNREACHABLE, "The phone is unreachable (switched off or out of coverage)."),
    "30004": (REFUSED, "The text was blocked by the carrier or the recipient."),
    "30005": (UNREACHABLE, "The number is unknown to the carrier or no longer in service."),
    "30006": (UNREACHABLE, "The number is a landline or its carrier cannot receive texts."),
    "30007": (REFUSED, "The carrier filtered the text as spam or a policy violation."),
    "30008": (UNKNOWN, "The carrier reported an unknown delivery error."),
    "30034": (NO_SENDER, "The sender number is not registered for US texting (A2P 10DLC)."),
}


# Demo data (``seed_demo``): the receipt of a text to a switched-off phone.
SAMPLE_UNREACHABLE_CODE = "30003"


def describe_error(code: str) -> ProviderError:
    """What a Twilio error code (``ErrorCode`` of a receipt, ``code`` of an API answer) means."""
    code = (str(code or "")).strip()
    reason, description = TWILIO_ERRORS.get(code, (REFUSED, f"Twilio error {code}." if code else ""))
    return ProviderError(code=code, reason=reason, description=description)


# How far back the provider's clock may disagree with ours when matching a lost send.
RECONCILE_CLOCK_SKEW = timedelta(minutes=2)


class _HttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, with a (connect, read) timeout and an optional base URL.

    ``base_url`` replaces the scheme and host of every ``*.twilio.com`` URL the SDK builds, so
    the real SDK (request building, auth, error parsing) talks to a Twilio-compatible server.
    """

    def __init__(self, *, base_url: str = "", timeout: float) -> None:
        super().__init__(pool_connections=True, logger=_sdk_logger)
        # Connecting is bounded separately: a connect timeout means nothing was sent (retry),
        # a read timeout means the request went out and its outcome is unknown.
        self.timeout = (min(5.0, timeout), timeout)
        self.base = urlsplit(base_url) if base_url else None

    def request(self, method, url, *args, **kwargs):
        if self.base is not None:
            parts = urlsplit(url)
            if parts.hostname and parts.hostname.endswith("twilio.com"):
                path = self.base.path.rstrip("/") + parts.path
                url = urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


def status_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}{STATUS_CALLBACK_PATH}"


def _sent_before_failure(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached Twilio (resolving or connecting failed)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
        return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)
    return False


def classify_twilio_error(exc: TwilioRestException | TwilioServiceException) -> SendError:
    """Map a Twilio API error (an answer with an HTTP status and a Twilio code) to a ``SendError``."""
    code = int(exc.code) if str(exc.code or "").isdigit() else None
    status = int(exc.status or 0)
    text = (getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "") or "").strip()
    label = str(code or status)
    if code in INVALID_NUMBER_CODES:
        return SendError(
            f"Not a number that can receive texts ({text})", kind=SendError.PERMANENT, reason=INVALID_NUMBER, code=label
        )
    if code == UNSUBSCRIBED_CODE:
        return SendError(
            "The number has unsubscribed (replied STOP to the carrier).",
            kind=SendError.PERMANENT,
            reason=RECIPIENT_OPTED_OUT,
            code=label,
        )
    if code in RETRY_CODES or status == 429 or status >= 500:
        reason = PROVIDER_UNAVAILABLE if status >= 500 else RATE_LIMITED
        return SendError(f"Twilio asked us to try later ({text})", kind=SendError.RETRYABLE, reason=reason, code=label)
    return SendError(f"Twilio refused the text ({text})", kind=SendError.PERMANENT, reason=REFUSED, code=label)


class TwilioBackend(BaseSmsBackend):
    """The production backend. Sender: the facility's number, else the messaging service."""

    throttled = True  # one sender number may only send so fast (``messaging.throttle``)

    def __init__(
        self,
        *args,
        account_sid: str | None = None,
        auth_token: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        self.auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        self.messaging_service_sid = (
            settings.TWILIO_MESSAGING_SERVICE_SID if messaging_service_sid is None else messaging_service_sid
        )
        base_url = settings.TWILIO_API_BASE_URL if base_url is None else base_url
        timeout = timeout or settings.TWILIO_TIMEOUT_SECONDS
        # A new client (and HTTP session) per backend: get_backend() makes one per send, so no
        # stale pooled connection can turn a never-sent request into an "unknown outcome".
        self.client = Client(
            self.account_sid, self.auth_token, http_client=_HttpClient(base_url=base_url, timeout=timeout)
        )
        # Resolve the SDK's lazily imported resources now, not between taking a rate-limit slot
        # and the request (a first send would otherwise arrive late and bunch up with the next).
        self.messages = self.client.api.v2010.account.messages

    def service_sid_for(self, message) -> str:
        """The organization's own messaging service when it has one, else the install-wide one."""
        return message.organization.twilio_messaging_service_sid or self.messaging_service_sid

    def sender_for(self, message) -> str:
        """The throttle key: the sender number, or the messaging service that picks one."""
        return str(message.from_number) if message.from_number else f"service:{self.service_sid_for(message)}"

    def _sender_params(self, message) -> dict[str, str]:
        if message.from_number:
            return {"from_": str(message.from_number)}
        if service_sid := self.service_sid_for(message):
            return {"messaging_service_sid": service_sid}
        raise SendError(
            "No sender: give the facility an SMS sender number, or set the organization's messaging service "
            "or TWILIO_MESSAGING_SERVICE_SID.",
            kind=SendError.PERMANENT,
            reason=NO_SENDER,
            code="no_sender",
        )

    def send(self, message) -> SendResult:
        params = self._sender_params(message)
        try:
            created = self.messages.create(
                to=str(message.to_number), body=message.body, status_callback=status_callback_url(), **params
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify_twilio_error(exc) from exc
        except requests.RequestException as exc:
            if _sent_before_failure(exc):
                raise SendError(
                    f"Could not reach Twilio ({exc})",
                    kind=SendError.RETRYABLE,
                    reason=PROVIDER_UNAVAILABLE,
                    code="connect",
                ) from exc
            raise SendError(
                f"No answer from Twilio after the request was sent ({type(exc).__name__}); it may have been "
                "accepted. Look it up in the Twilio console before sending it again.",
                kind=SendError.UNKNOWN_OUTCOME,
                code="timeout" if isinstance(exc, requests.Timeout) else "connection_lost",
            ) from exc
        except TwilioException as exc:  # e.g. an unreadable answer: the request did reach Twilio
            raise SendError(
                f"Unreadable answer from Twilio ({exc}); it may have been accepted.",
                kind=SendError.UNKNOWN_OUTCOME,
                code="bad_response",
            ) from exc
        return SendResult(sid=created.sid, status=created.status or "queued")

    def lookup(self, message, *, since: datetime, exclude_sids: frozenset[str] = frozenset()) -> SendResult | None:
        """The text Twilio holds for ``message`` (same recipient, sender and body, created after
        ``since``), or ``None`` when it has none. Network and API errors propagate.
        """
        filters = {"to": str(message.to_number)}
        if message.from_number:
            filters["from_"] = str(message.from_number)
        # Newest first; a lost send is recent, so the first page is enough.
        candidates = self.messages.list(limit=100, **filters)
        earliest = since - RECONCILE_CLOCK_SKEW
        matches = [
            m
            for m in candidates
            if m.body == message.body
            and m.sid not in exclude_sids
            and (m.date_created is None or m.date_created >= earliest)
            and (message.from_number or m.messaging_service_sid == self.service_sid_for(message))
        ]
        if not matches:
            return None
        oldest = min(matches, key=lambda m: m.date_created or since)
        return SendResult(sid=oldest.sid, status=oldest.status or "queued")
