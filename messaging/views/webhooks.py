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
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from ..inbound import Keyword, inbound_receive, message_status_update

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
        return view(request, *args, **kwargs)

    return wrapper


def _twiml(reply: str = "") -> HttpResponse:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return HttpResponse(response.to_xml(), content_type="text/xml")


@twilio_webhook
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Delivery receipt. Always 200 once signed: an unknown SID or a late status changes nothing."""
    data = request.POST
    message_status_update(
        provider_sid=data.get("MessageSid") or data.get("SmsSid", ""),
        provider_status=data.get("MessageStatus") or data.get("SmsStatus", ""),
        error_code=data.get("ErrorCode", ""),
        error_message=data.get("ErrorMessage", ""),
    )
    return HttpResponse(status=200)


@twilio_webhook
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """An inbound text. Answers TwiML: the help text for HELP/INFO, empty otherwise.

    STOP and START get empty TwiML: Twilio's own opt-out handling already sends the
    carrier-required confirmation, and after a STOP it would block our reply anyway.
    """
    data = request.POST
    sid = data.get("MessageSid") or data.get("SmsMessageSid") or data.get("SmsSid", "")
    if not sid or not data.get("From") or not data.get("To"):
        return HttpResponseBadRequest("MessageSid, From and To are required.")
    try:
        segments = int(data.get("NumSegments") or 1)
    except ValueError:
        segments = 1
    result = inbound_receive(
        provider_sid=sid,
        from_number=data["From"],
        to_number=data["To"],
        body=data.get("Body", ""),
        messaging_service_sid=data.get("MessagingServiceSid", ""),
        opt_out_type=data.get("OptOutType", ""),
        segments=segments,
    )
    return _twiml(result.reply if result.keyword == Keyword.HELP else "")
