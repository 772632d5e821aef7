"""Template helpers for the text panel, so the card and the send view word refusals alike."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html
from django.utils.translation import gettext

from interactions.models import Customer, Lead, Organization, PhoneNumber
from messaging.selectors import TextingNow, texting_now
from messaging.services import consent_refusal, sendability_refusal

register = template.Library()


@register.filter
def refusal_reason(phone: PhoneNumber) -> str:
    """Why ``phone`` cannot be texted now (same words as the send refusal), or ``""``.

    Expects ``phone.consent`` as set by ``interactions.selectors.numbers_with_consent``.
    """
    consent = getattr(phone, "consent", None)
    if consent is None:
        return ""
    refusal = consent_refusal(consent, phone_number=phone)
    return refusal.message if refusal else ""


@register.filter
def text_refusal(phone: PhoneNumber) -> str:
    """Why the Text icon of ``phone`` is disabled: the facility's sender or the number itself (a landline,
    the carrier's verdict), else its consent (``refusal_reason``); ``""`` when it may be texted.
    """
    owner = phone.owner
    refusal = sendability_refusal(phone_number=phone, facility=owner.facility) if owner is not None else None
    if refusal:  # nobody's permission changes these
        return refusal.message
    return refusal_reason(phone)


@register.filter
def reconfirm_due(phone: PhoneNumber | None) -> bool:
    """Whether nobody confirmed ``phone`` (and it never replied) for ``NUMBER_RECONFIRM_AFTER_DAYS``.

    A number reassigned to a stranger still looks valid; the card suggests confirming it first.
    """
    if phone is None or phone.last_confirmed_at is None:
        return False
    return phone.last_confirmed_at < timezone.now() - timedelta(days=settings.NUMBER_RECONFIRM_AFTER_DAYS)


@register.simple_tag
def texting_now_for(people: Iterable[Lead | Customer], organization: Organization) -> dict[str, TextingNow]:
    """``{% texting_now_for page organization as now %}``: who on this page can be texted right now."""
    return texting_now(organization=organization, people=list(people))


@register.filter
def for_person(statuses: dict[str, TextingNow], person: Lead | Customer) -> TextingNow | None:
    return statuses.get(f"{person.kind}-{person.pk}")


@register.filter(expects_localtime=True)
def thread_time(value: datetime | None) -> str:
    """``<time datetime="{{ value|date:'c' }}">{{ value|date:"M j, g:i A T" }}</time>``, the thread's
    timestamp, written out: Django's ``date`` filter parses its format string on every call, twice
    per text. Same output (tests/messaging/test_panel.py holds the two equal across zones and DST).
    """
    if not value:
        return format_html('<time datetime="">{}</time>', "")
    hour = value.hour % 12 or 12
    noon = gettext("PM") if value.hour > 11 else gettext("AM")
    zone = value.tzinfo
    if zone is None or timezone.is_naive(value):
        zone = timezone.get_default_timezone()
    # As the filter's ``T``: no name for a time the zone's clock change makes ambiguous or skips.
    name = "" if zone.utcoffset(value.replace(fold=not value.fold)) != zone.utcoffset(value) else zone.tzname(value)
    label = f"{MONTHS_3[value.month].title()} {value.day}, {hour}:{value.minute:02d} {noon} {name}"
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), label)
