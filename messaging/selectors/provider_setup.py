"""Whether Twilio sends our senders' incoming texts to Textdesk (``manage.py check_twilio``).

Reads the facilities' sender numbers and the messaging services (the organizations' and
``TWILIO_MESSAGING_SERVICE_SID``), asks Twilio how each is configured
(``messaging.backends.twilio_setup``) and says, in words, what is wrong and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from interactions.models import Facility, Organization

from ..backends.twilio_setup import NumberConfig, ServiceConfig, number_configs, service_config, setup_readable


@dataclass(frozen=True)
class SetupFinding:
    subject: str  # "+15125550100 (Lakeside Austin)" or "messaging service MG… (Lakeside Storage)"
    problem: str  # "" when it is set up as Textdesk expects
    fix: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def inbound_webhook_url() -> str:
    """The URL Twilio must post incoming texts to (with the slash; the form without it works too)."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("twilio_inbound")


def _is_ours(url: str) -> bool:
    return url.rstrip("/") == inbound_webhook_url().rstrip("/")


def _url_problem(url: str, method: str) -> str:
    if not url:
        return "has no incoming-message webhook: replies and STOP never reach Textdesk"
    if not _is_ours(url):
        return f"sends incoming texts to {url}, not to Textdesk"
    if method and method != "POST":
        return f"calls the webhook with HTTP {method}; Textdesk accepts POST only"
    return ""


def _service_finding(sid: str, owner: str, config: ServiceConfig) -> SetupFinding:
    subject = f"messaging service {sid} ({owner})"
    if not config.found:
        return SetupFinding(subject, "is not in this Twilio account (TWILIO_ACCOUNT_SID)", "Check the SID in admin.")
    if config.use_inbound_webhook_on_number:
        return SetupFinding(subject, "")  # each number's own webhook applies; the numbers are checked
    problem = _url_problem(config.inbound_request_url, config.inbound_method)
    fix = f"Messaging Services → {sid} → Integration → Send a webhook: {inbound_webhook_url()} (HTTP POST)."
    return SetupFinding(subject, problem, fix if problem else "")


def twilio_setup_findings(*, organization: Organization | None = None) -> list[SetupFinding]:
    """One finding per sender number and messaging service (of ``organization``, or all).

    Raises ``SetupUnreadable`` when Twilio can't be asked (another backend, no credentials).
    """
    setup_readable()
    facilities = Facility.objects.exclude(sms_sender_number="").select_related("organization").order_by("pk")
    organizations = Organization.objects.exclude(twilio_messaging_service_sid="").order_by("pk")
    if organization is not None:
        facilities = facilities.filter(organization=organization)
        organizations = organizations.filter(pk=organization.pk)
    services = {org.twilio_messaging_service_sid: org.name for org in organizations}
    if settings.TWILIO_MESSAGING_SERVICE_SID and organization is None:
        services.setdefault(settings.TWILIO_MESSAGING_SERVICE_SID, "TWILIO_MESSAGING_SERVICE_SID")
    configs = {sid: service_config(sid) for sid in services}
    findings = [_service_finding(sid, owner, configs[sid]) for sid, owner in services.items()]
    numbers = number_configs() if facilities.exists() else {}
    for facility in facilities:
        findings.append(_number_finding(facility, numbers, configs))
    return findings


def _number_finding(
    facility: Facility, numbers: dict[str, NumberConfig], services: dict[str, ServiceConfig]
) -> SetupFinding:
    number = str(facility.sms_sender_number)
    subject = f"{number} ({facility.name})"
    config = numbers.get(number, NumberConfig(found=False))
    if not config.found:
        return SetupFinding(
            subject, "is not a number of this Twilio account: texts from it fail", "Check the sender number in admin."
        )
    # In a service that posts incoming texts itself, the number's own webhook is not used.
    for service in services.values():
        if service.found and number in service.numbers and not service.use_inbound_webhook_on_number:
            return SetupFinding(subject, "")
    problem = _url_problem(config.sms_url, config.sms_method)
    fix = f"Phone Numbers → {number} → Configure → A message comes in: {inbound_webhook_url()} (HTTP POST)."
    return SetupFinding(subject, problem, fix if problem else "")
