"""Sends through Twilio's Programmable Messaging with the official ``twilio`` SDK.

Settings: ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_MESSAGING_SERVICE_SID`` (used
when the facility has no sender number of its own), ``TWILIO_TIMEOUT_SECONDS`` and
``TWILIO_API_BASE_URL`` (points the SDK at a Twilio-compatible server, for tests).

Every failure is classified (see ``SendError``) by one table, ``TWILIO_ERRORS``: each code's
provider-neutral reason, whether it is worth a retry, and the action the system takes (revoke
consent, mark the number not textable, flag the text or the sender). Besides the table:

- other 4xx refusals are permanent; 429 and any 5xx, and connection errors raised before the
  request left this machine, are worth a retry;
- a timeout or a dropped connection after the request was sent is an unknown outcome: Twilio
  may have accepted the text, so it is never sent again blindly (``needs_reconciliation``).

``lookup_line_type`` asks Twilio Lookup v2 (``line_type_intelligence``, a paid request) what
kind of line a number is.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .base import (
    ACT_COUNT_UNREACHABLE,
    ACT_FLAG_CONTENT,
    ACT_FLAG_SENDER,
    ACT_MARK_NOT_TEXTABLE,
    ACT_NOTHING,
    ACT_REVOKE_CONSENT,
    FILTERED,
    INVALID_NUMBER,
    LANDLINE,
    LINE_FIXED_VOIP,
    LINE_LANDLINE,
    LINE_MOBILE,
    LINE_NON_FIXED_VOIP,
    LINE_PAGER,
    LINE_PERSONAL,
    LINE_TOLL_FREE,
    LINE_UNKNOWN,
    LINE_VOICEMAIL,
    MEDIA_REJECTED,
    NO_SENDER,
    PROVIDER_UNAVAILABLE,
    RATE_LIMITED,
    RECIPIENT_OPTED_OUT,
    REFUSED,
    SENDER_NOT_REGISTERED,
    UNKNOWN,
    UNREACHABLE,
    BaseSmsBackend,
    LineTypeLookupFailed,
    LineTypeResult,
    MediaFetchFailed,
    ProviderError,
    SendError,
    SendResult,
)

logger = logging.getLogger(__name__)
# The SDK logs every request and response body at INFO; texts are personal data.
_sdk_logger = logging.getLogger("messaging.backends.twilio.http")
_sdk_logger.setLevel(logging.WARNING)

STATUS_CALLBACK_PATH = "/webhooks/twilio/status/"
ERROR_PAGE = "https://www.twilio.com/docs/api/errors/{code}"

# Every Twilio error code Textdesk acts on, for a refused API call and a delivery receipt's ErrorCode
# alike: code -> (provider-neutral reason, whether a send may be tried again, what the system does,
# what the card says). The source of each row is Twilio's error page, ERROR_PAGE.format(code=…).
# Codes not listed: a refusal (5xx and 429 are worth a retry), no action, "Twilio refused the text".
_PERMANENT, _RETRY = SendError.PERMANENT, SendError.RETRYABLE
TWILIO_ERRORS: dict[str, tuple[str, str, str, str]] = {
    "20429": (RATE_LIMITED, _RETRY, ACT_NOTHING, "Twilio asked us to slow down; the text is tried again."),
    "21211": (
        INVALID_NUMBER,
        _PERMANENT,
        ACT_MARK_NOT_TEXTABLE,
        "The number is not a valid phone number, so it cannot get texts.",
    ),
    "21408": (REFUSED, _PERMANENT, ACT_NOTHING, "Texting this country is not enabled on the Twilio account."),
    "21610": (
        RECIPIENT_OPTED_OUT,
        _PERMANENT,
        ACT_REVOKE_CONSENT,
        "The person unsubscribed from this sender (replied STOP to the carrier).",
    ),
    # Pictures (MMS). The text can be sent again without them (the panel's "Send without the picture").
    "21620": (
        MEDIA_REJECTED,
        _PERMANENT,
        ACT_NOTHING,
        "Twilio could not fetch the picture from Textdesk (its link was unreachable or invalid); "
        "the text was not sent.",
    ),
    "21611": (RATE_LIMITED, _RETRY, ACT_NOTHING, "The sender's queue at Twilio is full; the text is tried again."),
    "21614": (
        INVALID_NUMBER,
        _PERMANENT,
        ACT_MARK_NOT_TEXTABLE,
        "The number cannot receive texts (it is not a mobile number).",
    ),
    "30001": (PROVIDER_UNAVAILABLE, _RETRY, ACT_NOTHING, "Twilio's queue for the sender overflowed; not sent."),
    "30002": (REFUSED, _PERMANENT, ACT_NOTHING, "The Twilio account is suspended; a manager must act."),
    "30003": (
        UNREACHABLE,
        _RETRY,
        ACT_COUNT_UNREACHABLE,
        "The phone is unreachable (switched off or out of coverage).",
    ),
    "30004": (
        RECIPIENT_OPTED_OUT,
        _PERMANENT,
        ACT_REVOKE_CONSENT,
        "The person blocked texts from this sender at their carrier.",
    ),
    "30005": (
        INVALID_NUMBER,
        _PERMANENT,
        ACT_MARK_NOT_TEXTABLE,
        "The number is unknown to the carrier or no longer in service.",
    ),
    "30006": (
        LANDLINE,
        _PERMANENT,
        ACT_MARK_NOT_TEXTABLE,
        "The number is a landline or its carrier cannot receive texts.",
    ),
    "30007": (
        FILTERED,
        _PERMANENT,
        ACT_FLAG_CONTENT,
        "The carrier filtered the text as spam; a manager should review its wording.",
    ),
    "30008": (UNKNOWN, _PERMANENT, ACT_NOTHING, "The carrier reported an unknown delivery error."),
    "30019": (
        MEDIA_REJECTED,
        _PERMANENT,
        ACT_NOTHING,
        "The picture is larger than the person's carrier accepts; send it smaller or without it.",
    ),
    "12300": (
        MEDIA_REJECTED,
        _PERMANENT,
        ACT_NOTHING,
        "Twilio could not use the picture's type (it accepts JPEG, PNG and GIF for every phone).",
    ),
    "30032": (
        SENDER_NOT_REGISTERED,
        _PERMANENT,
        ACT_FLAG_SENDER,
        "The facility's toll-free sender number is not verified; a manager must act.",
    ),
    "30034": (
        SENDER_NOT_REGISTERED,
        _PERMANENT,
        ACT_FLAG_SENDER,
        "The facility's sender number is not registered for US texting (A2P 10DLC); a manager must act.",
    ),
}


# Demo data (``seed_demo``): the receipt of a text to a switched-off phone.
SAMPLE_UNREACHABLE_CODE = "30003"


def describe_error(code: str) -> ProviderError:
    """What a Twilio error code (``ErrorCode`` of a receipt, ``code`` of an API answer) means and what to do."""
    code = (str(code or "")).strip()
    if code in TWILIO_ERRORS:
        reason, _kind, action, description = TWILIO_ERRORS[code]
        return ProviderError(
            code=code, reason=reason, description=description, action=action, source=ERROR_PAGE.format(code=code)
        )
    if not code:
        return ProviderError(code="", reason=REFUSED, description="")
    source = ERROR_PAGE.format(code=code) if code.isdigit() else ""
    return ProviderError(
        code=code, reason=REFUSED, description=f"Twilio refused the text (error {code}).", source=source
    )


# Twilio Lookup v2's line types onto ours; those not listed (premium, sharedCost, uan…) are "unknown".
TWILIO_LINE_TYPES = {
    "mobile": LINE_MOBILE,
    "landline": LINE_LANDLINE,
    "fixedVoip": LINE_FIXED_VOIP,
    "nonFixedVoip": LINE_NON_FIXED_VOIP,
    "tollFree": LINE_TOLL_FREE,
    "personal": LINE_PERSONAL,
    "pager": LINE_PAGER,
    "voicemail": LINE_VOICEMAIL,
    "unknown": LINE_UNKNOWN,
}


# How far back the provider's clock may disagree with ours when matching a lost send.
RECONCILE_CLOCK_SKEW = timedelta(minutes=2)


class _HttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, with a (connect, read) timeout and an optional base URL: a
    ``TwilioHttpClient`` given to ``Client(..., http_client=...)``, the SDK's documented way to
    change how it talks HTTP (Twilio's guide to a custom HTTP client for the Python helper library). Every request is
    ``TwilioHttpClient.request``'s own (``requests`` builds it).

    ``base_url`` replaces the scheme and host of every ``*.twilio.com`` URL the SDK builds, so
    the real SDK (request building, auth, error parsing) talks to a Twilio-compatible server.

    Its ``requests`` session keeps the connection alive between sends (HTTP keep-alive), which
    is why one client serves one thread (``_thread_client``). A connection idle longer than
    ``IDLE_SECONDS`` is not reused: a server may close an idle connection at any moment, and a
    request written into a connection the server is closing fails *after* it was sent, an
    unknown outcome. Below that age ``urllib3`` sees a closed connection before reusing it.
    The environment's proxy and CA-bundle settings are read once per host, not on every request.
    """

    IDLE_SECONDS = 15.0

    def __init__(self, *, base_url: str = "", timeout: float) -> None:
        super().__init__(pool_connections=True, logger=_sdk_logger)
        # Connecting is bounded separately: a connect timeout means nothing was sent (retry),
        # a read timeout means the request went out and its outcome is unknown.
        self.timeout = (min(5.0, timeout), timeout)
        self.base = urlsplit(base_url) if base_url else None
        self.session.trust_env = False  # read once below, as requests would on each request
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._proxies: dict[str, dict[str, str]] = {}
        self._last_used = 0.0

    def request(self, method, url, *args, **kwargs):
        if self.base is not None:
            parts = urlsplit(url)
            if parts.hostname and parts.hostname.endswith("twilio.com"):
                path = self.base.path.rstrip("/") + parts.path
                url = urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, ""))
        origin = urlsplit(url)._replace(path="", query="", fragment="").geturl()
        if origin not in self._proxies:
            self._proxies[origin] = requests.utils.get_environ_proxies(origin)
        self.proxy = self._proxies[origin]
        now = time.monotonic()
        if now - self._last_used > self.IDLE_SECONDS:
            self.session.close()  # drop pooled connections that sat idle; the next request connects afresh
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            self._last_used = time.monotonic()


_threads = threading.local()


def _thread_client(account_sid: str, auth_token: str, base_url: str, timeout: float) -> Client:
    """This thread's SDK client for these settings: its HTTP connection stays open between sends.

    A few per thread (the pre-send lookup has its own, shorter timeout); past that (tests change
    the settings each time) the others are closed, so no thread piles up open connections.
    """
    key = (account_sid, auth_token, base_url, timeout)
    clients = getattr(_threads, "clients", None)
    if clients is None:
        clients = _threads.clients = {}
    if key not in clients:
        if len(clients) >= _CLIENTS_PER_THREAD:
            for old in clients.values():
                old.http_client.session.close()
            clients.clear()
        clients[key] = Client(account_sid, auth_token, http_client=_HttpClient(base_url=base_url, timeout=timeout))
    return clients[key]


_CLIENTS_PER_THREAD = 4


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
    """Map a Twilio API error (an HTTP status and a Twilio code) to a ``SendError``, by ``TWILIO_ERRORS``."""
    code = str(exc.code) if str(exc.code or "").isdigit() else ""
    status = int(exc.status or 0)
    text = (getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "") or "").strip()
    label = code or str(status)
    if code in TWILIO_ERRORS:
        reason, kind, _action, description = TWILIO_ERRORS[code]
        if kind == SendError.RETRYABLE:
            description = f"Twilio asked us to try later: {description}"
        return SendError(description, kind=kind, reason=reason, code=label)
    if status == 429 or status >= 500:
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
        # One client (and HTTP connection) per thread, kept between sends: get_backend() makes a
        # backend per send, and a new connection per text cost a TCP (and TLS) handshake each.
        self.client = _thread_client(self.account_sid, self.auth_token, base_url, timeout)
        # Resolve the SDK's lazily imported resources now, not between taking a rate-limit slot
        # and the request (a first send would otherwise arrive late and bunch up with the next).
        self.messages = self.client.api.v2010.account.messages

    def lookup_line_type(self, number: str) -> LineTypeResult:
        """Twilio Lookup v2 ``line_type_intelligence`` for ``number``; ``LineTypeLookupFailed`` on any failure."""
        try:
            found = self.client.lookups.v2.phone_numbers(str(number)).fetch(fields="line_type_intelligence")
        except TwilioRestException as exc:
            if exc.status in (400, 404):
                # This number cannot be looked up (Twilio says why, e.g. not a valid number): asking again
                # would cost the same and say the same. Stored as "unknown"; texting decides the rest.
                return LineTypeResult(line_type=LINE_UNKNOWN)
            raise LineTypeLookupFailed(f"Twilio Lookup failed ({exc})") from exc
        except (TwilioException, requests.RequestException) as exc:
            raise LineTypeLookupFailed(f"Twilio Lookup failed ({exc})") from exc
        info = found.line_type_intelligence or {}
        if info.get("error_code"):  # Twilio had no line-type data for this number (e.g. 60600): the same
            return LineTypeResult(line_type=LINE_UNKNOWN)
        return LineTypeResult(
            line_type=TWILIO_LINE_TYPES.get(info.get("type") or "", LINE_UNKNOWN),
            carrier=(info.get("carrier_name") or "")[:120],
        )

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

    def send(self, message, *, media_urls: Sequence[str] = ()) -> SendResult:
        params: dict[str, Any] = self._sender_params(message)
        if media_urls:  # one MediaUrl per picture: Twilio fetches each and sends an MMS
            params["media_url"] = list(media_urls)
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


# --- received pictures (MMS) ------------------------------------------------------------------

# A MediaUrl of an incoming text: /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}
_MEDIA_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages/(?P<message>\w+)/Media/(?P<media>ME\w+)$")
MEDIA_MAX_BYTES = 20 * 1024 * 1024  # more than any MMS carries; the rest is not read
_MEDIA_REDIRECTS = 3


def _api_origin() -> tuple[str, str]:
    """The scheme and host of the Twilio API this install talks to (``TWILIO_API_BASE_URL`` in tests)."""
    base = urlsplit(settings.TWILIO_API_BASE_URL or "https://api.twilio.com")
    return base.scheme, base.netloc


def media_url_parts(url: str) -> tuple[str, str]:
    """(MessageSid, MediaSid) of a MediaUrl on the configured Twilio API host of our own account.

    Anything else is refused before any request is made (``MediaFetchFailed``, not retried): the
    webhook is signed, but the application fetches only from Twilio's API, never from an address a
    payload names (server-side request forgery).
    """
    parts = urlsplit(url)
    match = _MEDIA_PATH.match(parts.path)
    base_path = urlsplit(settings.TWILIO_API_BASE_URL or "").path.rstrip("/")
    if base_path and parts.path.startswith(base_path):
        match = _MEDIA_PATH.match(parts.path[len(base_path) :])
    if (parts.scheme, parts.netloc) != _api_origin() or parts.query or parts.fragment or parts.username:
        raise MediaFetchFailed(f"Not fetched: {parts.scheme}://{parts.netloc} is not the Twilio API.", retryable=False)
    if match is None or match["account"] != settings.TWILIO_ACCOUNT_SID:
        raise MediaFetchFailed("Not fetched: not a picture of this Twilio account.", retryable=False)
    return match["message"], match["media"]


def _redirect_allowed(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname in settings.TWILIO_MEDIA_REDIRECT_HOSTS


def media_fetch(url: str) -> tuple[bytes, str]:
    """The bytes and declared type of a received picture, with the account's credentials.

    Twilio answers a MediaUrl with a redirect to its content store: followed only to the https
    hosts of ``TWILIO_MEDIA_REDIRECT_HOSTS``, without the credentials. The declared type is only
    reported; the caller decides the type from the content.
    """
    media_url_parts(url)
    auth: tuple[str, str] | None = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    timeout = (5.0, settings.TWILIO_TIMEOUT_SECONDS)
    try:
        for _ in range(_MEDIA_REDIRECTS + 1):
            response = requests.get(url, auth=auth, timeout=timeout, allow_redirects=False, stream=True)
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                response.close()
                if not _redirect_allowed(url):
                    raise MediaFetchFailed(
                        f"Not fetched: Twilio redirected to {urlsplit(url).netloc}.", retryable=False
                    )
                auth = None  # the account's credentials go to Twilio's API only
                continue
            break
        else:
            raise MediaFetchFailed("Not fetched: too many redirects.", retryable=False)
        with response:
            if response.status_code != 200:
                retry = response.status_code == 429 or response.status_code >= 500
                raise MediaFetchFailed(f"Twilio answered {response.status_code} for the picture.", retryable=retry)
            data = b"".join(response.iter_content(64 * 1024))[: MEDIA_MAX_BYTES + 1]
            return data, response.headers.get("Content-Type", "")
    except requests.RequestException as exc:
        raise MediaFetchFailed(
            f"Could not fetch the picture from Twilio ({type(exc).__name__}).", retryable=True
        ) from exc


def media_delete(url: str) -> None:
    """Delete a received picture at Twilio (the SDK's Media resource), once it is stored here.

    Twilio keeps an incoming text's pictures until they are deleted; nothing of the person's should
    stay there once Textdesk has it. Already gone (404) counts as deleted.
    """
    message_sid, media_sid = media_url_parts(url)
    client = _thread_client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE_URL,
        settings.TWILIO_TIMEOUT_SECONDS,
    )
    try:
        client.api.v2010.account.messages(message_sid).media(media_sid).delete()
    except TwilioRestException as exc:
        if exc.status == 404:
            return
        raise MediaFetchFailed(
            f"Twilio refused to delete the picture ({exc.code or exc.status}).", retryable=True
        ) from exc
    except (TwilioException, requests.RequestException) as exc:
        raise MediaFetchFailed(
            f"Could not reach Twilio to delete the picture ({type(exc).__name__}).", retryable=True
        ) from exc
