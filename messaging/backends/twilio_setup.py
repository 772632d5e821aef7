"""What Twilio holds about our senders, read through the real SDK for ``check_twilio``.

Twilio posts incoming texts (replies, STOP) to the URL configured on the number ("A message
comes in") or on its Messaging Service ("Integration → Send a webhook"), never to one we pass
with a send. A wrong or missing URL loses every STOP silently, so ``manage.py check_twilio``
and the admin's *Twilio setup* page compare what is configured with what Textdesk expects.
Twilio's documentation of the fields read here:

- IncomingPhoneNumber ``sms_url``/``sms_method``:
  https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource
- Messaging Service ``inbound_request_url``/``inbound_method``/``use_inbound_webhook_on_number``:
  https://www.twilio.com/docs/messaging/api/service-resource
- a Service's sender pool: https://www.twilio.com/docs/messaging/api/phonenumber-resource
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from .twilio import _thread_client


@dataclass(frozen=True)
class NumberConfig:
    found: bool
    sms_url: str = ""
    sms_method: str = ""


@dataclass(frozen=True)
class ServiceConfig:
    found: bool
    inbound_request_url: str = ""
    inbound_method: str = ""
    use_inbound_webhook_on_number: bool = False
    numbers: frozenset[str] = frozenset()


class SetupUnreadable(Exception):
    """Twilio could not be asked (credentials, network): nothing can be said about the setup."""


def _client() -> Client:
    if settings.SMS_BACKEND != "twilio":
        raise SetupUnreadable(f"SMS_BACKEND is {settings.SMS_BACKEND}: texts don't go through Twilio here")
    if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
        raise SetupUnreadable("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set")
    return _thread_client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE_URL,
        float(settings.TWILIO_TIMEOUT_SECONDS),
    )


def setup_readable() -> None:
    """Raise ``SetupUnreadable`` unless texts go through Twilio with credentials set."""
    _client()


def number_configs() -> dict[str, NumberConfig]:
    """Every number of the account and its incoming-message webhook, by E.164: one paged list
    (1,000 a page), not a request per sender, so a thousand facilities ask Twilio once or twice."""
    try:
        numbers = _client().incoming_phone_numbers.stream(page_size=1000)
        return {
            str(n.phone_number): NumberConfig(
                found=True, sms_url=n.sms_url or "", sms_method=(n.sms_method or "").upper()
            )
            for n in numbers
        }
    except (TwilioException, OSError) as exc:
        raise SetupUnreadable(f"Twilio did not answer the list of the account's numbers: {exc}") from exc


def service_config(sid: str) -> ServiceConfig:
    """Messaging Service ``sid``: its integration settings and its sender pool."""
    try:
        service = _client().messaging.v1.services(sid)
        fetched = service.fetch()
        pool = frozenset(str(n.phone_number) for n in service.phone_numbers.list(limit=1000))
    except TwilioRestException as exc:
        if exc.status == 404:
            return ServiceConfig(found=False)
        raise SetupUnreadable(f"Twilio did not answer about {sid}: {exc}") from exc
    except (TwilioException, OSError) as exc:
        raise SetupUnreadable(f"Twilio did not answer about {sid}: {exc}") from exc
    return ServiceConfig(
        found=True,
        inbound_request_url=fetched.inbound_request_url or "",
        inbound_method=(fetched.inbound_method or "").upper(),
        use_inbound_webhook_on_number=bool(fetched.use_inbound_webhook_on_number),
        numbers=pool,
    )
