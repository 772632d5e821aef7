"""Twilio webhooks: status callbacks and inbound texts.

Both check ``X-Twilio-Signature`` against ``PUBLIC_BASE_URL`` + the request's path and query,
never against the host and scheme the request arrived with: behind a TLS-terminating proxy
the app sees ``http://10.0.0.5:8000/…`` while Twilio signed ``https://texts.example.com/…``.
They answer fast: no provider calls, only database writes and (for HELP) a TwiML reply.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from ..keywords import Keyword
from ..services import inbound_receive, message_status_update

logger = logging.getLogger(__name__)

try:  # twilio releases that know the X-Twilio-Webhooks-Signature-Settings header (HMAC-SHA256)
    from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, get_signature_algorithm
except ImportError:  # pragma: no cover - older twilio: Auth Token (HMAC-SHA1) signatures only
    SIGNATURE_SETTINGS_HEADER, get_signature_algorithm = "", None


def signed_url(request: HttpRequest) -> str:
    """The URL Twilio signed: ``PUBLIC_BASE_URL`` + path + query, whatever host the request reached."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path_info()


def twilio_signature_valid(request: HttpRequest) -> bool:
    """Whether the request carries a valid ``X-Twilio-Signature`` for its form fields."""
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    if not signature or not token:
        if not token:
            logger.error("TWILIO_AUTH_TOKEN is not set: every Twilio webhook is refused")
        return False
    validator = RequestValidator(token)
    kwargs = {}
    if get_signature_algorithm is not None and request.headers.get(SIGNATURE_SETTINGS_HEADER):
        kwargs["algorithm"] = get_signature_algorithm(request.headers[SIGNATURE_SETTINGS_HEADER])
    return validator.validate(signed_url(request), request.POST, signature, **kwargs)


def twilio_webhook(view):
    """POST only, no CSRF token (Twilio has none), and a valid Twilio signature or 403."""

    @csrf_exempt
    @require_POST
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not twilio_signature_valid(request):
            logger.warning("Twilio webhook %s refused: missing or wrong signature", request.path)
            return HttpResponseForbidden("Invalid Twilio signature.")
        return view(request, storable_fields(request.POST), *args, **kwargs)

    return wrapper


def storable_fields(data: QueryDict) -> dict[str, str]:
    """The signed fields, with what can't be stored taken out: NUL characters and lone surrogates.

    The signature was checked over the fields as sent. Refusing them instead would only make
    Twilio retry a payload that will never change, so they are kept, minus the unstorable bits.
    """
    return {key: value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8") for key, value in data.items()}


def _bounded(value: str, limit: int) -> str:
    return value.strip()[:limit]


# Twilio caps a text at 1,600 characters: ten segments of GSM-7, 24 of UCS-2. More is not a real text.
MAX_INBOUND_SEGMENTS = 24


def _twiml(reply: str = "") -> HttpResponse:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return HttpResponse(response.to_xml(), content_type="text/xml")


# Twilio carries at most 10 pictures in one MMS.
MAX_INBOUND_MEDIA = 10


def _media_urls(data: dict[str, str]) -> list[str]:
    """``MediaUrl0`` … ``MediaUrl{NumMedia-1}`` of an MMS (fetched later, only from Twilio's API host)."""
    try:
        count = min(max(int(data.get("NumMedia") or 0), 0), MAX_INBOUND_MEDIA)
    except ValueError:
        count = 0
    return [url[:1000] for index in range(count) if (url := data.get(f"MediaUrl{index}", "").strip())]


@twilio_webhook
def twilio_status(request: HttpRequest, data: dict[str, str]) -> HttpResponse:
    """Delivery receipt. Always 200 once signed: an unknown SID or a late status changes nothing."""
    message_status_update(
        provider_sid=_bounded(data.get("MessageSid") or data.get("SmsSid", ""), 64),
        provider_status=_bounded(data.get("MessageStatus") or data.get("SmsStatus", ""), 32),
        error_code=_bounded(data.get("ErrorCode", ""), 32),
        error_message=_bounded(data.get("ErrorMessage", ""), 500),
    )
    return HttpResponse(status=200)


@twilio_webhook
def twilio_inbound(request: HttpRequest, data: dict[str, str]) -> HttpResponse:
    """An inbound text. Answers TwiML: the help text for HELP/INFO, empty otherwise.

    STOP and START get empty TwiML: Twilio's own opt-out handling already sends the
    carrier-required confirmation, and after a STOP it would block our reply anyway.
    A payload that can't be a real text (a SID or number longer than Twilio's) is logged and
    answered with empty TwiML, so Twilio does not retry it.
    """
    sid = data.get("MessageSid") or data.get("SmsMessageSid") or data.get("SmsSid", "")
    if not sid or not data.get("From") or not data.get("To"):
        return HttpResponseBadRequest("MessageSid, From and To are required.")
    if len(sid) > 64 or len(data["From"]) > 64 or len(data["To"]) > 64:
        logger.warning("inbound webhook ignored: MessageSid, From or To longer than Twilio's (%.80r)", sid)
        return _twiml()
    try:
        segments = int(data.get("NumSegments") or 1)
    except ValueError:
        segments = 1
    result = inbound_receive(
        provider_sid=sid,
        from_number=data["From"],
        to_number=data["To"],
        body=data.get("Body", ""),
        messaging_service_sid=_bounded(data.get("MessagingServiceSid", ""), 64),
        opt_out_type=_bounded(data.get("OptOutType", ""), 32),
        segments=min(max(segments, 1), MAX_INBOUND_SEGMENTS),
        media_urls=_media_urls(data),
    )
    return _twiml(result.reply if result.keyword == Keyword.HELP else "")
