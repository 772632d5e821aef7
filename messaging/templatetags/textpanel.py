"""Template helpers for the text panel, so the card and the send view word refusals alike."""

from __future__ import annotations

from django import template

from interactions.models import Organization, PhoneNumber
from messaging.selectors import TextingNow, texting_now
from messaging.services import consent_refusal

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


@register.simple_tag
def texting_now_for(people, organization: Organization) -> dict[str, TextingNow]:
    """``{% texting_now_for page organization as now %}``: who on this page can be texted right now."""
    return texting_now(organization=organization, people=list(people))


@register.filter
def for_person(statuses: dict[str, TextingNow], person) -> TextingNow | None:
    return statuses.get(f"{person.kind}-{person.pk}")
