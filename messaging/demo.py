"""Demo templates and a few conversations for ``manage.py seed_demo``; running it twice changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from interactions.demo import REPLIED_STOP, demo_people, stop_confirmations_already_sent
from interactions.models import Consent, ConsentEvent, Lead, Organization, PhoneNumber
from interactions.services import phone_numbers_line_type_record, user_display_name

from .backends.console import demo_line_type
from .backends.twilio import SAMPLE_UNREACHABLE_CODE
from .compliance.engine import recipient_rules, send_refusal
from .models import Message, MessageTemplate
from .segments import measure
from .services import (
    conversation_summary_rebuild,
    conversation_touch,
    inbound_receive,
    unsubscribe_link_get_or_create,
    with_link,
)

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


# One line of a demo conversation: minutes before its end, direction, body ({first}, {facility}),
# and for an outbound text its final status and error fields.
Line = tuple[int, str, str, str, dict]
OUT, IN = Message.Direction.OUTBOUND, Message.Direction.INBOUND
# A provider's steps for a text, seconds after it was written: handed over, sent, then delivered or failed.
SENDING_AFTER, SENT_AFTER, SETTLED_AFTER = 1, 2, 8


def _conversation_end(org: Organization, phone: PhoneNumber, script: list[Line], now: datetime) -> datetime:
    """The latest end of ``script``, at or before ``now``, at which every outbound text of it was inside the
    person's texting hours: the seed writes a past, and asks the send's own check (``send_refusal``) when
    that past may have been, so a demo text never went out at night or on a Texas Sunday morning."""
    owner = phone.owner
    recipient = recipient_rules(organization=org, number=phone.number, facility=owner.facility, owner=owner)
    end = now.replace(second=0, microsecond=0)
    for _ in range(14 * 24 * 4):  # every quarter hour of two weeks back: the law's windows open daily
        moments = [end - timedelta(minutes=line[0]) for line in script if line[1] == OUT]
        if all(send_refusal(recipient=recipient, at=at, sent=[]) is None for at in moments):
            return end
        end -= timedelta(minutes=15)
    return end


def _text_sent(org: Organization, phone: PhoneNumber, agent: User | None, line: Line, at: datetime) -> Message:
    """An outbound text as it stands after its provider's callbacks: each status with its time, in order."""
    _, _, body, status, extra = line
    owner = phone.owner
    link = unsubscribe_link_get_or_create(organization=org, number=phone.number)
    final = with_link(body.format(first=owner.first_name, facility=owner.facility.name), link.url)
    size = measure(final)
    settled = at + timedelta(seconds=SETTLED_AFTER)
    message = Message.objects.create(
        organization=org,
        direction=OUT,
        lead=phone.lead,
        customer=phone.customer,
        phone_number=phone,
        facility=owner.facility,
        to_number=phone.number,
        from_number=owner.facility.sms_sender_number or "",
        body=final,
        segments=size.segments,
        encoding=size.encoding,
        status=status,
        provider_sid="SMdemo" + uuid.uuid5(uuid.NAMESPACE_URL, f"{phone.number}/{at.isoformat()}").hex[:28],
        sent_by=agent,
        actor_name=user_display_name(agent),
        queued_at=at,
        sending_at=at + timedelta(seconds=SENDING_AFTER),
        sent_at=at + timedelta(seconds=SENT_AFTER),
        delivered_at=settled if status == Message.Status.DELIVERED else None,
        failed_at=settled if status in (Message.Status.FAILED, Message.Status.UNDELIVERED) else None,
        **extra,
    )
    conversation_touch(message)  # the inbox's summary, as every service that writes a text keeps it
    return message


def _reply_received(org: Organization, phone: PhoneNumber, line: Line, at: datetime) -> Message | None:
    """A reply stored by the service Twilio's webhook calls (``inbound_receive``), as if it came at ``at``:
    its keyword or plain words act as a real reply's would (a STOP opts the number out, a "don't text me"
    is flagged), and what that wrote is dated to ``at``."""
    owner = phone.owner
    before = ConsentEvent.objects.filter(organization=org).order_by("-pk").values_list("pk", flat=True).first() or 0
    result = inbound_receive(
        provider_sid="SMdemo" + uuid.uuid5(uuid.NAMESPACE_URL, f"{phone.number}/in/{at.isoformat()}").hex[:28],
        from_number=phone.e164,
        to_number=str(owner.facility.sms_sender_number),
        body=line[2].format(first=owner.first_name, facility=owner.facility.name),
        now=at,
    )
    events = ConsentEvent.objects.filter(organization=org, pk__gt=before)
    events.update(created_at=at)
    Consent.objects.filter(organization=org, number=phone.number, person_opted_out_at__isnull=False).update(
        person_opted_out_at=at
    )
    return result.message


def _conversation(org: Organization, phone: PhoneNumber, agent: User | None, now: datetime, script: list[Line]) -> None:
    end = _conversation_end(org, phone, script, now)
    for line in script:
        at = end - timedelta(minutes=line[0])
        sent = line[1] == OUT
        message = _text_sent(org, phone, agent, line, at) if sent else _reply_received(org, phone, line, at)
        if message is not None:  # created_at is the moment it was written: back-dated with the rest
            Message.objects.filter(pk=message.pk).update(created_at=at, updated_at=at)
    conversation_summary_rebuild(person=phone.owner)  # the summary follows the texts' back-dated times


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
    """Demo line types, templates for every category, and a few short conversations (delivered, failed,
    a flagged request, STOP replies), stored as the past they show: nothing is sent or looked up, and
    each text sits where the app's rules allow it (``tests/workflows/test_demo_rules.py``)."""
    demo_line_types_record(org)
    for name, category, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(
            organization=org, name=name, defaults={"category": category, "body": body}
        )
    if Message.objects.filter(organization=org).exists():
        return
    agent = get_user_model().objects.filter(username="agent").first()
    now = timezone.now()
    primaries = {p.owner.pk if p.lead_id else -p.owner.pk: p for p in _primaries(org)}
    people = demo_people(org)
    primary = [primaries[person.pk if isinstance(person, Lead) else -person.pk] for person in people]
    for k, script in ((0, QUOTE), (1, UNREACHABLE), (20, FLAGGED)):
        _conversation(org, primary[k], agent, now, script)
    # Their own STOP, through the inbound service: it revokes, and the thread shows the text that did.
    with stop_confirmations_already_sent(org):
        for k in sorted(REPLIED_STOP):
            _conversation(org, primary[k], agent, now - timedelta(days=2 + k % 5), STOPPED)


def _primaries(org: Organization) -> list[PhoneNumber]:
    return list(
        PhoneNumber.objects.filter(organization=org, is_primary=True)
        .select_related("lead__facility", "customer__facility")
        .order_by("id")
    )


S = Message.Status
QUOTE: list[Line] = [
    (180, OUT, "Hi {first}, this is Alex at {facility}. Your 10x10 quote is ready.", S.DELIVERED, {}),
    (150, IN, "Thanks! Is climate control included?", S.RECEIVED, {}),
    (140, OUT, "Yes, the 10x10 on the ground floor is climate controlled.", S.DELIVERED, {}),
]
UNREACHABLE: list[Line] = [
    (
        90,
        OUT,
        "Hi {first}, a reminder that your reservation is held for 7 days.",
        S.FAILED,
        {"error_code": SAMPLE_UNREACHABLE_CODE, "error_message": "Unreachable destination handset."},
    ),
]
# "don't text me at work" reads like a request to stop: the inbound service flags it for an agent.
FLAGGED: list[Line] = [
    (60, OUT, "Hi {first}, your balance is due on the 1st. Pay online anytime.", S.DELIVERED, {}),
    (30, IN, "Can I cancel the autopay? And don't text me at work", S.RECEIVED, {}),
]
STOPPED: list[Line] = [
    (45, OUT, "Hi {first}, {facility} here: the unit you asked about is still available.", S.DELIVERED, {}),
    (20, IN, "STOP", S.RECEIVED, {}),
]
