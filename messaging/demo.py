"""Demo templates for ``manage.py seed_demo``; running it twice changes nothing."""

from __future__ import annotations

from interactions.models import Organization

from .models import MessageTemplate

Category = MessageTemplate.Category

DEMO_TEMPLATES: list[tuple[str, str, str]] = [
    (
        "Welcome",
        Category.GENERAL,
        "Hi {{ first_name }}, this is {{ agent_name }} at {{ facility_name }}. Questions about your storage? "
        "Call us at {{ facility_phone }}.",
    ),
    (
        "Gate hours",
        Category.GENERAL,
        "Hi {{ first_name }}, {{ facility_name }}'s gate is open 6am-10pm daily. Call {{ facility_phone }} anytime.",
    ),
    (
        "Payment reminder",
        Category.COLLECTIONS,
        "Hi {{ first_name }}, your balance for unit {{ unit }} at {{ facility_name }} is {{ balance_due }}. "
        "Pay online or call {{ facility_phone }}.",
    ),
    (
        "Past due notice",
        Category.COLLECTIONS,
        "{{ first_name }}, unit {{ unit }} is past due ({{ balance_due }}). Please call {{ facility_name }} at "
        "{{ facility_phone }} to avoid a late fee.",
    ),
    (
        "Quote follow-up",
        Category.LEAD_FOLLOW_UP,
        "Hi {{ first_name }}, thanks for asking about a unit at {{ facility_name }}! Want me to hold one for you? "
        "- {{ agent_name }}",
    ),
    # The curly apostrophe and the emoji are outside GSM-7: this one is UCS-2, 70/67 per segment.
    (
        "Move-in reminder (UCS-2)",
        Category.LEAD_FOLLOW_UP,
        "Hi {{ first_name }} 👋 your unit at {{ facility_name }} is ready! We’re here until 6pm - {{ agent_name }}",
    ),
]


def seed_messaging(organization: Organization) -> None:
    for name, category, body in DEMO_TEMPLATES:
        MessageTemplate.objects.get_or_create(
            organization=organization, name=name, defaults={"category": category, "body": body}
        )
