"""Demo templates and a few conversations for ``manage.py seed_demo``; running it twice changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from interactions.models import Organization, PhoneNumber
from interactions.services import phone_numbers_line_type_record, user_display_name

from .backends.console import demo_line_type
from .backends.twilio import SAMPLE_UNREACHABLE_CODE
from .models import Message, MessageTemplate
from .services import conversation_touch, unsubscribe_link_get_or_create, with_link

TEMPLATES = [
    (
        "Quote follow-up",
        MessageTemplate.Category.LEAD_FOLLOW_UP,
        "Hi {{ first_name }}, this is {{ agent_name }} at {{ facility_name }}. Your unit quote is ready — reply here "
        "or call {{ facility_phone }} to reserve it.",
    ),
    (
        "Reservation reminder",
        MessageTemplate.Category.LEAD_FOLLOW_UP,
        "Hi {{ first_name }}, a reminder that your reservation at {{ facility_name }} is held for 7 days. "
        "Questions? Call {{ facility_phone }}.",
    ),
    (
        "Balance reminder",
        MessageTemplate.Category.COLLECTIONS,
        "Hi {{ first_name }}, your balance for unit {{ unit }} at {{ facility_name }} is {{ balance_due }}. "
        "Pay online or call {{ facility_phone }}.",
    ),
    (
        "Gate hours",
        MessageTemplate.Category.GENERAL,
        "Hi {{ first_name }}, {{ facility_name }} gate hours are 6 am–10 pm daily. The office is open 9–6.",
    ),
    (
        "Welcome",
        MessageTemplate.Category.GENERAL,
        "Hi {{ first_name }}, this is {{ agent_name }} at {{ facility_name }}. Questions about your storage? "
        "Call us at {{ facility_phone }}.",
    ),
    (
        "Past due notice",
        MessageTemplate.Category.COLLECTIONS,
        "{{ first_name }}, unit {{ unit }} is past due ({{ balance_due }}). Please call {{ facility_name }} at "
        "{{ facility_phone }} to avoid a late fee.",
    ),
    # The emoji and the curly apostrophe are outside GSM-7: this one is UCS-2 (70/67 per segment).
    (
        "Move-in day",
        MessageTemplate.Category.LEAD_FOLLOW_UP,
        "Hi {{ first_name }} 👋 your unit at {{ facility_name }} is ready! We’re here until 6pm - {{ agent_name }}",
    ),
]


def _conversation(
    org: Organization, phone: PhoneNumber, agent: User | None, now: datetime, script: list[tuple]
) -> None:
    link = unsubscribe_link_get_or_create(organization=org, number=phone.number)
    owner = phone.owner
    for minutes_ago, direction, body, status, extra in script:
        at = now - timedelta(minutes=minutes_ago)
        outbound = direction == Message.Direction.OUTBOUND
        text = body.format(first=owner.first_name, facility=owner.facility.name)
        message = Message.objects.create(
            organization=org,
            direction=direction,
            lead=phone.lead,
            customer=phone.customer,
            phone_number=phone,
            facility=owner.facility,
            to_number=phone.number if outbound else (owner.facility.sms_sender_number or phone.number),
            from_number=(owner.facility.sms_sender_number or "") if outbound else phone.number,
            body=with_link(text, link.url) if outbound else text,
            status=status,
            sent_by=agent if outbound else None,
            actor_name=user_display_name(agent) if outbound else "",
            **extra,
        )
        # created_at is auto_now_add: back-date it so the thread reads in order.
        Message.objects.filter(pk=message.pk).update(created_at=at, updated_at=at, received_at=None if outbound else at)
        message.created_at = at
        conversation_touch(message)  # the inbox's summary, as every service that writes a text keeps it


@transaction.atomic
def demo_line_types_record(org: Organization) -> int:
    """The demo's numbers get the demo line type (``demo_line_type``, labelled "(demo lookup)"),
    stored here rather than asked of the provider: seeding never makes a paid Lookup, whatever
    ``SMS_BACKEND`` says. ``seed_demo`` seeds in one transaction, so the lookup each added number
    queues after commit finds its line type fresh and asks nothing. How many numbers were set.
    """
    now = timezone.now()
    numbers = PhoneNumber.objects.filter(organization=org, line_type_checked_at__isnull=True)
    for number in sorted(set(numbers.values_list("number", flat=True)), key=str):
        found = demo_line_type(str(number))
        phone_numbers_line_type_record(
            organization=org, number=number, line_type=found.line_type, carrier=found.carrier, demo=True, now=now
        )
    return numbers.count()


def seed_messaging(org: Organization) -> None:
    """Demo line types, templates for every category, and three short conversations (delivered,
    failed, opt-out request), stored as the past they show: nothing is sent or looked up."""
    demo_line_types_record(org)
    for name, category, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(
            organization=org, name=name, defaults={"category": category, "body": body}
        )
    if Message.objects.filter(organization=org).exists():
        return
    agent = get_user_model().objects.filter(username="agent").first()
    now = timezone.now()
    granted = list(
        PhoneNumber.objects.filter(organization=org, is_primary=True, lead__isnull=False)
        .select_related("lead__facility")
        .order_by("id")
    )
    customers = list(
        PhoneNumber.objects.filter(organization=org, is_primary=True, customer__isnull=False)
        .select_related("customer__facility")
        .order_by("id")
    )
    out, inbound = Message.Direction.OUTBOUND, Message.Direction.INBOUND
    S = Message.Status
    if granted:
        _conversation(
            org,
            granted[0],
            agent,
            now,
            [
                (180, out, "Hi {first}, this is Alex at {facility}. Your 10x10 quote is ready.", S.DELIVERED, {}),
                (150, inbound, "Thanks! Is climate control included?", S.RECEIVED, {}),
                (140, out, "Yes, the 10x10 on the ground floor is climate controlled.", S.DELIVERED, {}),
            ],
        )
    if len(granted) > 1:
        _conversation(
            org,
            granted[1],
            agent,
            now,
            [
                (
                    90,
                    out,
                    "Hi {first}, a reminder that your reservation is held for 7 days.",
                    S.FAILED,
                    {"error_code": SAMPLE_UNREACHABLE_CODE, "error_message": "Unreachable destination handset."},
                ),
            ],
        )
    if customers:
        _conversation(
            org,
            customers[0],
            agent,
            now,
            [
                (60, out, "Hi {first}, your balance is due on the 1st. Pay online anytime.", S.DELIVERED, {}),
                (
                    30,
                    inbound,
                    "Can I cancel the autopay? And don't text me at work",
                    S.RECEIVED,
                    {"flagged_opt_out_request": True, "opt_out_due_at": now + timedelta(days=14)},
                ),
            ],
        )
