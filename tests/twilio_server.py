"""A small Twilio-compatible HTTP server for tests (docs/ARCHITECTURE.md "Real parts, and how they start").

The real ``twilio`` SDK is pointed at it through ``TWILIO_API_BASE_URL``. It is a real HTTP
server on a free port of 127.0.0.1, in a thread, so other processes (a Celery worker) can use
it too. It implements what Textdesk calls:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (send a text),
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages.json`` (list, newest first; ``To``/``From``),
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` (fetch),
- ``GET  /v2/PhoneNumbers/{Number}?Fields=line_type_intelligence`` (Lookup v2's line type: ``mobile``
  unless ``set_line_type`` said otherwise; ``fail_next_lookup`` answers the next lookups with an error),
- ``GET  /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=…`` (the account's
  numbers and their "A message comes in" webhook, as ``configure_number`` set them),
- ``GET  /v1/Services/{Sid}`` and ``GET /v1/Services/{Sid}/PhoneNumbers`` (a Messaging Service's
  integration settings and its sender pool, as ``configure_messaging_service`` set them),

- ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}/Media/{MediaSid}`` (a received picture's
  bytes, as ``inbound(media=…)`` stored it) and ``DELETE …/Media/{MediaSid}.json`` (deleting it; see
  ``media_deleted``),

and, like Twilio, FETCHES every ``MediaUrl`` of a send (an MMS) when the text is created, recording
what it got (``fetched_media``); ``fetch_media_from`` points those fetches at the host the test runs
its Django on (the URL's path and query kept, as the signature covers them). It
checks HTTP basic auth like Twilio (20003), records every request, and can be told to answer
the next sends with a Twilio error (21211, 21610, 21611, 21614, 20429, 500), slowly, or by
hanging up. It also builds and posts signed status callbacks and inbound texts (signed with
``twilio.request_validator.RequestValidator`` over the ``PUBLIC_BASE_URL`` form of the URL,
posted to whatever host the test runs its Django on).

Use it through the ``twilio_server`` fixture (tests/conftest.py)::

    def test_x(twilio_server, consented_number):
        twilio_server.fail_next(21211)
        ...
        assert twilio_server.created_count(to="+15125550142") == 1
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import ssl
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from twilio.request_validator import RequestValidator

ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    21211: (400, "The 'To' number is not a valid phone number."),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21620: (400, "Invalid media URL(s)"),
    12300: (400, "Invalid Content-Type"),
    30019: (400, "Content size exceeds carrier limit"),
    # Delivery errors: Twilio reports these in status callbacks; answering a send with one lets a
    # test drive the same table through the API path.
    30003: (400, "Unreachable destination handset"),
    30004: (400, "Message blocked"),
    30005: (400, "Unknown destination handset"),
    30006: (400, "Landline or unreachable carrier"),
    30007: (400, "Message filtered"),
    30032: (400, "Toll-Free Number Has Not Been Verified"),
    30034: (400, "Message from an Unregistered Number"),
    500: (500, "Internal Server Error"),
}
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages/(?P<sid>\w+)\.json$")
_LOOKUP = re.compile(r"^/v2/PhoneNumbers/(?P<number>[^/]+)$")
_INCOMING = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/IncomingPhoneNumbers\.json$")
_MEDIA = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages/(?P<message>\w+)/Media/(?P<media>ME\w+)(?P<json>\.json)?$"
)
_SERVICE = re.compile(r"^/v1/Services/(?P<sid>MG\w+)(?P<numbers>/PhoneNumbers)?$")
# Lookup v2's line types (``line_type_intelligence.type``).
LINE_TYPES = (
    "mobile",
    "landline",
    "fixedVoip",
    "nonFixedVoip",
    "tollFree",
    "personal",
    "pager",
    "voicemail",
    "premium",
    "sharedCost",
    "uan",
    "unknown",
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float = field(default_factory=time.time)  # wall clock, for rate checks across processes
    answered: int | None = None  # the HTTP status sent back (None: hung up or still in flight)
    media_urls: list[str] = field(default_factory=list)  # a send's MediaUrl values, in order

    @property
    def is_send(self) -> bool:
        return self.method == "POST" and bool(_MESSAGES.match(self.path))

    @property
    def is_lookup(self) -> bool:
        return self.method == "GET" and bool(_LOOKUP.match(self.path))


@dataclass
class FetchedMedia:
    """What fetching one ``MediaUrl`` of a send got, as Twilio would see it."""

    url: str
    status: int
    content_type: str = ""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SignedRequest:
    """A webhook request as Twilio would make it: post ``params`` to ``path`` with ``signature``."""

    url: str  # the PUBLIC_BASE_URL form, which the signature covers
    path: str
    params: dict[str, str]
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Twilio-Signature": self.signature}

    def post(self, client):
        """Post with a Django test ``Client``."""
        return client.post(self.path, self.params, HTTP_X_TWILIO_SIGNATURE=self.signature)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=False).replace("-0000", "+0000")


class TwilioServer:
    """See the module docstring. Thread-safe; ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        public_base_url: str = "https://textdesk.test",
        idle_timeout: float = 60.0,
    ) -> None:
        self.account_sid = account_sid
        self.idle_timeout = idle_timeout  # seconds a kept-alive connection may sit idle before the server closes it
        self.connections = 0  # TCP connections accepted (keep-alive: fewer than requests)
        self.auth_token = auth_token
        self.public_base_url = public_base_url.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, dict] = {}  # sid -> resource, in creation order
        self._script: deque[tuple[str, object]] = deque()
        self.line_types: dict[str, tuple[str, str]] = {}  # E.164 -> (Lookup type, carrier name)
        self.incoming_numbers: dict[str, dict] = {}  # E.164 -> IncomingPhoneNumber resource
        self.messaging_services: dict[str, dict] = {}  # MG… -> Service resource (+ "_numbers")
        self._lookup_script: deque[int] = deque()
        # Pictures: those of inbound texts Twilio holds ((MessageSid, MediaSid) -> (bytes, type)), the
        # ones deleted, and what each MMS send's MediaUrl fetch got.
        self.media: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.media_deleted: list[tuple[str, str]] = []
        self.fetched_media: list[FetchedMedia] = []
        self.fetch_media_from: str | None = None  # e.g. live_server.url; None: MediaUrls are fetched as given
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> TwilioServer:
        server = self

        class Handler(_Handler):
            twilio = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="twilio-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> TwilioServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to set as ``TWILIO_API_BASE_URL``."""
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.messages.clear()
            self._script.clear()
            self.line_types.clear()
            self._lookup_script.clear()
            self.media.clear()
            self.media_deleted.clear()
            self.fetched_media.clear()

    # --- scripting the next answers -------------------------------------------------------

    def fail_next(self, code: int, times: int = 1) -> None:
        """Answer the next ``times`` sends with Twilio error ``code`` (21211, 21610, 21611, 21614, 20429, 500)."""
        if code not in ERRORS:
            raise ValueError(f"unknown Twilio error {code}; known: {sorted(ERRORS)}")
        with self._lock:
            self._script.extend([("error", code)] * times)

    def set_line_type(self, number: str, line_type: str, carrier: str = "") -> None:
        """Lookup answers ``line_type`` (one of ``LINE_TYPES``) for ``number`` (E.164) from now on."""
        if line_type not in LINE_TYPES:
            raise ValueError(f"unknown line type {line_type!r}; known: {LINE_TYPES}")
        with self._lock:
            self.line_types[number] = (line_type, carrier or f"Test {line_type} carrier")

    def configure_number(self, number: str, *, sms_url: str = "", sms_method: str = "POST") -> None:
        """The account owns ``number`` (E.164), its "A message comes in" webhook set to ``sms_url``."""
        with self._lock:
            self.incoming_numbers[number] = {
                "sid": "PN" + hashlib.sha256(number.encode()).hexdigest()[:32],
                "account_sid": self.account_sid,
                "phone_number": number,
                "friendly_name": number,
                "sms_url": sms_url,
                "sms_method": sms_method,
                "sms_application_sid": "",
                "capabilities": {"sms": True, "mms": True, "voice": True},
            }

    def configure_messaging_service(
        self,
        sid: str,
        *,
        inbound_request_url: str = "",
        inbound_method: str = "POST",
        use_inbound_webhook_on_number: bool = False,
        numbers: tuple[str, ...] = (),
    ) -> None:
        """The account has Messaging Service ``sid`` with these Integration settings and sender pool."""
        with self._lock:
            self.messaging_services[sid] = {
                "sid": sid,
                "account_sid": self.account_sid,
                "friendly_name": f"Service {sid[-4:]}",
                "inbound_request_url": inbound_request_url or None,
                "inbound_method": inbound_method,
                "use_inbound_webhook_on_number": use_inbound_webhook_on_number,
                "status_callback": None,
                "_numbers": list(numbers),
            }

    def fail_next_lookup(self, code: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` lookups with error ``code`` (500, 20429, 20003…) instead of the line type."""
        if code not in ERRORS:
            raise ValueError(f"unknown Twilio error {code}; known: {sorted(ERRORS)}")
        with self._lock:
            self._lookup_script.extend([code] * times)

    def lookups(self, *, number: str | None = None) -> list[RecordedRequest]:
        """Every line-type lookup received (answered or refused), oldest first."""
        with self._lock:
            return [r for r in self.requests if r.is_lookup and (number is None or r.params.get("number") == number)]

    def slow_next(self, seconds: float, times: int = 1) -> None:
        """Accept the next sends (the text is created) but answer only after ``seconds``."""
        with self._lock:
            self._script.extend([("slow", seconds)] * times)

    def hang_up_next(self, times: int = 1) -> None:
        """Accept the next sends (the text is created), then close the connection without an answer."""
        with self._lock:
            self._script.extend([("hang_up", None)] * times)

    def answer_normally(self) -> None:
        """Forget scripted errors and delays: answer every next send at once."""
        with self._lock:
            self._script.clear()

    def _next_action(self) -> tuple[str, object]:
        with self._lock:
            return self._script.popleft() if self._script else ("ok", None)

    # --- what happened --------------------------------------------------------------------

    def sends(self, *, to: str | None = None, body: str | None = None) -> list[RecordedRequest]:
        """Every send request received (including refused ones), oldest first."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.is_send
                and (to is None or r.params.get("To") == to)
                and (body is None or r.params.get("Body") == body)
            ]

    def created(self, *, to: str | None = None, body: str | None = None) -> list[dict]:
        """The texts Twilio accepted (would deliver), oldest first."""
        with self._lock:
            return [
                m
                for m in self.messages.values()
                if (to is None or m["to"] == to) and (body is None or m["body"] == body)
            ]

    def created_count(self, *, to: str | None = None, body: str | None = None) -> int:
        return len(self.created(to=to, body=body))

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(To, Body) pairs Twilio accepted more than once: a duplicate text to a person."""
        counts = Counter((m["to"], m["body"]) for m in self.created())
        return {key: n for key, n in counts.items() if n > 1}

    # --- callbacks back to the application ------------------------------------------------

    def _sign(self, path_and_query: str, params: dict[str, str], *, url: str | None = None) -> SignedRequest:
        url = url or f"{self.public_base_url}{path_and_query}"
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return SignedRequest(url=url, path=path_and_query, params=params, signature=signature)

    def status_callback(self, sid: str, status: str, *, error_code: int | str | None = None) -> SignedRequest:
        """The signed status callback Twilio would post for text ``sid`` (to its ``StatusCallback``)."""
        with self._lock:
            message = dict(self.messages[sid])
            if status:
                self.messages[sid]["status"] = status
        callback = message.get("status_callback") or f"{self.public_base_url}/webhooks/twilio/status/"
        parts = urlsplit(callback)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "From": message["from"] or "",
            "To": message["to"],
        }
        if message.get("messaging_service_sid"):
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        # Signed over exactly the URL the application gave us (its PUBLIC_BASE_URL form).
        return self._sign(urlunsplit(("", "", parts.path, parts.query, "")), params, url=callback)

    def inbound(
        self,
        *,
        from_: str,
        to: str,
        body: str,
        path: str = "/webhooks/twilio/inbound/",
        media: tuple[tuple[bytes, str], ...] = (),
    ) -> SignedRequest:
        """A signed inbound text (``From`` texted ``Body`` to our number ``To``); ``media``: its pictures
        as (bytes, content type), held here for the application to fetch (``MediaUrlN``) and delete."""
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": str(len(media)),
            "NumSegments": "1",
        }
        for index, (data, content_type) in enumerate(media):
            media_sid = "ME" + secrets.token_hex(16)
            with self._lock:
                self.media[(sid, media_sid)] = (data, content_type)
            params[f"MediaUrl{index}"] = (
                f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media/{media_sid}"
            )
            params[f"MediaContentType{index}"] = content_type
        return self._sign(path, params)

    def media_sends(self) -> list[list[str]]:
        """The MediaUrls of each send that had any, oldest first."""
        with self._lock:
            return [r.media_urls for r in self.requests if r.is_send and r.media_urls]

    def _fetch_media(self, urls: list[str]) -> list[FetchedMedia]:
        """Fetch each MediaUrl as Twilio does when it takes an MMS (a plain GET, no credentials)."""
        fetched = []
        for url in urls:
            target = url
            if self.fetch_media_from:
                base, parts = urlsplit(self.fetch_media_from), urlsplit(url)
                target = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
            try:
                with urlopen(Request(target, headers={"User-Agent": "TwilioProxy/1.1"}), timeout=10) as response:
                    got = FetchedMedia(url, response.status, response.headers.get("Content-Type", ""),
                                       response.read(), dict(response.headers.items()))  # fmt: skip
            except Exception as exc:  # HTTPError carries the status; anything else: unreachable
                got = FetchedMedia(url, getattr(exc, "code", 0) or 0)
            fetched.append(got)
        with self._lock:
            self.fetched_media.extend(fetched)
        return fetched

    def post(self, signed: SignedRequest, *, base_url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
        """Post a signed request to ``base_url`` (e.g. ``live_server.url``) as Twilio would; (status, body).

        ``context``: the TLS context for an https ``base_url`` (a test's own certificate authority).
        """
        target = urlsplit(base_url)
        path = urlsplit(signed.path)
        url = urlunsplit((target.scheme, target.netloc, path.path, path.query, ""))
        request = Request(
            url,
            data=urlencode(signed.params).encode(),
            headers={
                "X-Twilio-Signature": signed.signature,
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1",
            },
            method="POST",
        )
        try:
            with urlopen(request, timeout=10, context=context) as response:
                return response.status, response.read().decode()
        except Exception as exc:  # HTTPError carries the status
            status = getattr(exc, "code", None)
            if status is None:
                raise
            return status, exc.read().decode()

    def post_status_callback(
        self,
        sid: str,
        status: str,
        *,
        base_url: str,
        error_code: int | str | None = None,
        context: ssl.SSLContext | None = None,
    ) -> tuple[int, str]:
        """Post a signed status callback for ``sid`` to ``base_url`` (signed for the PUBLIC_BASE_URL form)."""
        return self.post(self.status_callback(sid, status, error_code=error_code), base_url=base_url, context=context)

    # --- request handling (called by the handler thread) ----------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _create(self, params: dict[str, str], media_urls: list[str] | None = None) -> dict:
        media_urls = media_urls or []
        now = datetime.now(UTC)
        sid = "SM" + secrets.token_hex(16)
        service = params.get("MessagingServiceSid")
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": params["To"],
            "from": params.get("From") or None,
            "messaging_service_sid": service,
            "body": params.get("Body", ""),
            "status": "accepted" if service and not params.get("From") else "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": str(len(media_urls)),
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "status_callback": params.get("StatusCallback"),
        }
        with self._lock:
            self.messages[sid] = resource
        return resource

    def _public(self, resource: dict) -> dict:
        return {k: v for k, v in resource.items() if k != "status_callback"}


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: under load (a worker with dozens of threads,
    # bench/) connections beyond it wait for a SYN retransmission, or are reset mid-request.
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    twilio: TwilioServer
    # HTTP/1.1 keeps the connection open between requests, as Twilio's API does; a connection idle
    # for ``TwilioServer.idle_timeout`` seconds is closed, as a real server would.
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.twilio.idle_timeout  # read when the connection opens: a test may change it
        with self.twilio._lock:
            self.twilio.connections += 1
        super().setup()

    def log_message(self, format, *args):  # keep test output quiet
        pass

    # -- helpers --
    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, recorded: RecordedRequest | None = None) -> None:
        status, message = ERRORS[code]
        if recorded is not None:
            recorded.answered = status
        self._json(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.twilio.account_sid}:{self.twilio.auth_token}".encode()).decode()

    def _authorized(self, account: str) -> bool:
        return account == self.twilio.account_sid and self.headers.get("Authorization") == self._basic()

    def _recorded(self, params: dict[str, str]) -> RecordedRequest:
        recorded = RecordedRequest(
            method=self.command,
            path=urlsplit(self.path).path,
            params=params,
            headers={k: v for k, v in self.headers.items()},
        )
        self.twilio._record(recorded)
        return recorded

    # -- verbs --
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        multi = parse_qs(raw, keep_blank_values=True)
        params = {k: v[-1] for k, v in multi.items()}
        recorded = self._recorded(params)
        recorded.media_urls = list(multi.get("MediaUrl", []))
        match = _MESSAGES.match(recorded.path)
        if not match:
            recorded.answered = 404
            self._json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
            return
        if not self._authorized(match["account"]):
            self._error(20003, recorded)
            return
        action, arg = self.twilio._next_action()
        if action == "error":
            self._error(int(arg), recorded)
            return
        for required, code in (("To", 21604), ("Body", 21602)):
            if not params.get(required) and not (required == "Body" and recorded.media_urls):
                self._error(code, recorded)
                return
        if not (params.get("From") or params.get("MessagingServiceSid")):
            self._error(21603, recorded)
            return
        if len(params["Body"]) > 1600:
            self._error(21617, recorded)
            return
        resource = self.twilio._create(params, recorded.media_urls)
        if recorded.media_urls:  # Twilio fetches the pictures of an MMS as it takes the text
            self.twilio._fetch_media(recorded.media_urls)
        if action == "slow":
            time.sleep(float(arg))
        elif action == "hang_up":
            self.close_connection = True
            self.connection.shutdown(2)  # SHUT_RDWR: the client sees the connection drop, no answer
            return
        recorded.answered = 201
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            self._json(201, self.twilio._public(resource))

    def _lookup(self, number: str, recorded: RecordedRequest) -> None:
        """Lookup v2, as Twilio answers it with ``Fields=line_type_intelligence``."""
        if self.headers.get("Authorization") != self._basic():
            self._error(20003, recorded)
            return
        with self.twilio._lock:
            failure = self.twilio._lookup_script.popleft() if self.twilio._lookup_script else None
            line_type, carrier = self.twilio.line_types.get(number, ("mobile", "Test Wireless"))
        if failure is not None:
            self._error(failure, recorded)
            return
        asked = "line_type_intelligence" in (recorded.params.get("Fields") or "").split(",")
        recorded.answered = 200
        self._json(
            200,
            {
                "calling_country_code": "1",
                "country_code": "US",
                "phone_number": number,
                "national_format": number,
                "valid": True,
                "validation_errors": [],
                "caller_name": None,
                "sim_swap": None,
                "call_forwarding": None,
                "line_status": None,
                "line_type_intelligence": {
                    "error_code": None,
                    "mobile_country_code": "310" if line_type == "mobile" else None,
                    "mobile_network_code": "456" if line_type == "mobile" else None,
                    "carrier_name": carrier,
                    "type": line_type,
                }
                if asked
                else None,
                "identity_match": None,
                "reassigned_number": None,
                "sms_pumping_risk": None,
                "phone_number_quality_score": None,
                "pre_fill": None,
                "url": f"https://lookups.twilio.com/v2/PhoneNumbers/{number}",
            },
        )

    def _not_found(self, recorded: RecordedRequest) -> None:
        recorded.answered = 404
        self._json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})

    def _incoming_numbers(self, params: dict[str, str], recorded: RecordedRequest) -> None:
        with self.twilio._lock:
            found = [
                n
                for n in self.twilio.incoming_numbers.values()
                if params.get("PhoneNumber") in (None, n["phone_number"])
            ]
        recorded.answered = 200
        page = {"page": 0, "page_size": 50, "start": 0, "end": max(0, len(found) - 1), "uri": self.path}
        self._json(200, {"incoming_phone_numbers": found, **page, "next_page_uri": None, "previous_page_uri": None})

    def _messaging_service(self, sid: str, numbers: bool, recorded: RecordedRequest) -> None:
        if self.headers.get("Authorization") != self._basic():
            self._error(20003, recorded)
            return
        with self.twilio._lock:
            service = dict(self.twilio.messaging_services.get(sid) or {})
        if not service:
            self._not_found(recorded)
            return
        pool = service.pop("_numbers")
        recorded.answered = 200
        if not numbers:
            self._json(200, {**service, "url": f"https://messaging.twilio.com/v1/Services/{sid}"})
            return
        url = f"https://messaging.twilio.com/v1/Services/{sid}/PhoneNumbers"
        meta = {"page": 0, "page_size": 50, "first_page_url": url, "previous_page_url": None, "url": url,
                "next_page_url": None, "key": "phone_numbers"}  # fmt: skip
        rows = [{"sid": "PN" + hashlib.sha256(n.encode()).hexdigest()[:32], "phone_number": n, "service_sid": sid,
                 "account_sid": self.twilio.account_sid, "capabilities": ["SMS"]} for n in pool]  # fmt: skip
        self._json(200, {"phone_numbers": rows, "meta": meta})

    def _media(self, match: re.Match, recorded: RecordedRequest) -> None:
        """A received picture: GET its bytes, DELETE it (``.json``), with the account's credentials."""
        if not self._authorized(match["account"]):
            self._error(20003, recorded)
            return
        key = (match["message"], match["media"])
        with self.twilio._lock:
            found = self.twilio.media.get(key)
            if found is not None and self.command == "DELETE":
                del self.twilio.media[key]
                self.twilio.media_deleted.append(key)
        if found is None or (self.command == "GET") == bool(match["json"]):
            self._not_found(recorded)
            return
        if self.command == "DELETE":
            recorded.answered = 204
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, content_type = found
        recorded.answered = 200
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_DELETE(self) -> None:
        recorded = self._recorded({})
        if match := _MEDIA.match(recorded.path):
            self._media(match, recorded)
            return
        self._not_found(recorded)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        recorded = self._recorded(params)
        if match := _MEDIA.match(parts.path):
            self._media(match, recorded)
            return
        if match := _INCOMING.match(parts.path):
            if not self._authorized(match["account"]):
                self._error(20003, recorded)
                return
            self._incoming_numbers(params, recorded)
            return
        if match := _SERVICE.match(parts.path):
            self._messaging_service(match["sid"], bool(match["numbers"]), recorded)
            return
        if match := _LOOKUP.match(parts.path):
            number = unquote(match["number"])
            recorded.params["number"] = number
            self._lookup(number, recorded)
            return
        if match := _MESSAGE.match(parts.path):
            if not self._authorized(match["account"]):
                self._error(20003, recorded)
                return
            resource = self.twilio.messages.get(match["sid"])
            if resource is None:
                recorded.answered = 404
                self._json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
                return
            recorded.answered = 200
            self._json(200, self.twilio._public(resource))
            return
        match = _MESSAGES.match(parts.path)
        if not match:
            recorded.answered = 404
            self._json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
            return
        if not self._authorized(match["account"]):
            self._error(20003, recorded)
            return
        found = [
            self.twilio._public(m)
            for m in self.twilio.created()
            if params.get("To") in (None, m["to"]) and params.get("From") in (None, m["from"])
        ]
        found.reverse()  # newest first, like Twilio
        page_size = int(params.get("PageSize") or 50)
        page = found[:page_size]
        recorded.answered = 200
        self._json(
            200,
            {
                "messages": page,
                "page": 0,
                "page_size": page_size,
                "start": 0,
                "end": max(0, len(page) - 1),
                "uri": self.path,
                "first_page_uri": self.path,
                "previous_page_uri": None,
                "next_page_uri": None,
            },
        )
