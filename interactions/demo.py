"""Demo data for ``manage.py seed_demo``: deterministic, and running it twice changes nothing."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from .models import ConsentEvent, Customer, Facility, History, Lead, Membership, Organization, PhoneNumber
from .services import consent_grant, consent_status, history_record, phone_number_add

DEMO_PASSWORD = "demo12345"
# Plain ASCII names: a dash such as "–" in {{ facility_name }} would force every demo text into UCS-2.
FACILITIES = [
    ("Lakeside Storage Austin", "1200 Lakeshore Blvd, Austin, TX 78741", "America/Chicago", "+15125550100"),
    ("Harbor Self Storage Tampa", "88 Channelside Dr, Tampa, FL 33602", "America/New_York", "+18135550100"),
    ("Redwood Storage Sacramento", "410 J St, Sacramento, CA 95814", "America/Los_Angeles", "+19165550100"),
    ("Aloha Self Storage Honolulu", "500 Ala Moana Blvd, Honolulu, HI 96813", "Pacific/Honolulu", "+18085550100"),
]
# Area codes inside each facility's time zone, so quiet hours read naturally in the demo.
AREA_CODES = {
    "America/Chicago": "512",
    "America/New_York": "813",
    "America/Los_Angeles": "916",
    "Pacific/Honolulu": "808",
}
# Texting hours are 08:00-21:00 in the recipient's zone, and no US zone is inside them between
# about 07:00 and 13:00 UTC: a newcomer trying the demo from Europe or Asia then could text
# nobody. Two Tampa customers are service members stationed abroad who gave a local mobile
# (self storage near a base often has such customers); with Honolulu and the mainland, someone
# in the demo can be texted at any hour, and someone else is always in quiet hours.
ABROAD = {
    25: ("+4915205550125", "Stationed in Germany until spring; text the German mobile."),
    37: ("+819055500137", "Stationed on Okinawa this year; text the Japanese mobile."),
}
FIRST = [
    "Maria",
    "James",
    "Aisha",
    "Robert",
    "Linda",
    "Carlos",
    "Emily",
    "David",
    "Sofia",
    "Michael",
    "Grace",
    "Daniel",
    "Olivia",
    "Ethan",
    "Priya",
    "Noah",
    "Hannah",
    "Lucas",
    "Chloe",
    "Samuel",
]
LAST = [
    "Garcia",
    "Smith",
    "Khan",
    "Johnson",
    "Nguyen",
    "Lopez",
    "Brown",
    "Miller",
    "Rossi",
    "Davis",
    "Kim",
    "Wilson",
    "Martin",
    "Clark",
    "Patel",
    "Lewis",
    "Young",
    "Hall",
    "Allen",
    "Wright",
]
LABELS = [PhoneNumber.Label.MOBILE, PhoneNumber.Label.HOME, PhoneNumber.Label.WORK]
# The people (by seeding order) whose primary number replied STOP: ``messaging.demo`` stores the
# reply through the same inbound service as Twilio's webhook, so the opt-out has its text.
REPLIED_STOP = frozenset({5, 14, 23, 32})
# How long ago the people signed up (quote form, rental agreement): their numbers and text
# permission are that old, older than any call, note or text of theirs in the demo.
SIGNED_UP_DAYS_AGO = 45


def _number(area: str, n: int) -> str:
    # 555-01xx numbers are reserved for fiction and still valid E.164.
    return f"+1{area}555{n:04d}"


@transaction.atomic
def seed_interactions() -> Organization:
    rng = random.Random(20261127)
    org, _ = Organization.objects.get_or_create(slug="demo-storage", defaults={"name": "Demo Storage Co"})
    facilities = _demo_facilities(org)
    agent = _demo_users(org)["agent"]
    serial = 200
    now = timezone.now()
    with stop_confirmations_already_sent(org):
        for i in range(40):
            facility = facilities[i % len(facilities)]
            person, created = _demo_person(i, org=org, facility=facility, rng=rng)
            numbers = [_number(AREA_CODES[facility.time_zone], serial + k) for k in range(1 + (i % 3))]
            if i in ABROAD:
                numbers[0] = ABROAD[i][0]
            serial += 3
            if created:
                _demo_numbers_and_consent(i, person=person, numbers=numbers, signed_up=now - _signed_up_ago(i))
                _demo_history(i, person=person, agent=agent, rng=rng, now=now)
    return org


def _demo_facilities(org: Organization) -> list[Facility]:
    facilities = []
    for name, address, tz, phone in FACILITIES:
        facility, _ = Facility.objects.get_or_create(
            organization=org,
            name=name,
            defaults={
                "address": address,
                "time_zone": tz,
                "phone": phone,
                "sms_sender_number": phone,
                # Demo senders are registered (fictional ids), so make run's texts go out.
                "sender_registration": Facility.Registration.APPROVED,
                "sender_brand_id": "BN" + "0" * 32,
                "sender_campaign_id": "CM" + "0" * 32,
            },
        )
        facilities.append(facility)
    return facilities


def _demo_users(org: Organization) -> dict[str, User]:
    """The demo's ``agent`` and ``manager``, password ``DEMO_PASSWORD``."""
    User = get_user_model()
    users = {}
    for username, role, first in (
        ("agent", Membership.Role.AGENT, "Alex"),
        ("manager", Membership.Role.MANAGER, "Morgan"),
    ):
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": "Demo", "is_staff": True, "email": f"{username}@example.com"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.get_or_create(user=user, defaults={"organization": org, "role": role})
        users[username] = user
    return users


def _signed_up_ago(i: int) -> timedelta:
    return timedelta(days=SIGNED_UP_DAYS_AGO, hours=i)


def demo_people(org: Organization) -> list[Lead | Customer]:
    """The demo's people in seeding order (the ``i`` of ``REPLIED_STOP``): the leads, then the customers."""
    leads = list(Lead.objects.filter(organization=org).select_related("facility").order_by("pk")[:20])
    customers = list(Customer.objects.filter(organization=org).select_related("facility").order_by("pk")[:20])
    return [*leads, *customers]


@contextlib.contextmanager
def stop_confirmations_already_sent(org: Organization) -> Iterator[None]:
    """The seeded STOPs are past replies: their confirmation went back then. Seeding sends none
    (as when Twilio answers STOP itself); the organization's own setting comes back after."""
    replies_to_stop = org.twilio_replies_to_stop
    org.twilio_replies_to_stop = True
    org.save(update_fields=["twilio_replies_to_stop"])
    yield
    org.twilio_replies_to_stop = replies_to_stop
    org.save(update_fields=["twilio_replies_to_stop"])


def _demo_person(i: int, *, org: Organization, facility: Facility, rng: random.Random) -> tuple[Lead | Customer, bool]:
    """The ``i``-th person: the first 20 leads, the rest customers. (The random choices are drawn
    whether or not the person exists, so a second run draws the same ones.) Every full name is
    its own: the customers' last names are shifted, so no customer shares a lead's name."""
    first, last = FIRST[i % 20], LAST[(i * 7 + (3 if i >= 20 else 0)) % 20]
    if i < 20:
        return Lead.objects.get_or_create(
            organization=org,
            facility=facility,
            first_name=first,
            last_name=last,
            defaults={
                "email": f"{first.lower()}.{last.lower()}@example.com",
                "status": rng.choice([Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.RESERVED]),
                "source": rng.choice(["web", "phone", "walk-in", "referral"]),
            },
        )
    return Customer.objects.get_or_create(
        facility=facility,
        pms_id=f"PMS-{1000 + i}",
        defaults={
            "organization": org,
            "first_name": first,
            "last_name": last,
            "unit": f"{rng.choice('ABC')}{rng.randint(100, 399)}",
            "balance_due": Decimal(rng.choice([0, 0, 0, 45, 89, 129])).quantize(Decimal("0.01")),
        },
    )


def _demo_numbers_and_consent(i: int, *, person: Lead | Customer, numbers: list[str], signed_up: datetime) -> None:
    """The person's numbers and, for most primaries, text permission, both from when they signed up.

    The seed stores that past at once: the numbers and the ledger's grant are dated back to it, so no
    text of the demo comes before the permission it went out under (``tests/workflows/test_demo_rules.py``).
    """
    org = person.organization
    is_customer = isinstance(person, Customer)
    source = PhoneNumber.Source.PMS if is_customer else PhoneNumber.Source.LOCAL
    added = [
        phone_number_add(owner=person, number=number, label=LABELS[k], source=source)
        for k, number in enumerate(numbers)
    ]
    PhoneNumber.objects.filter(pk__in=[p.pk for p in added]).update(created_at=signed_up, updated_at=signed_up)
    primary = numbers[0]
    if consent_status(organization=org, number=primary).status != "none" or i % 7 == 3:
        return
    event = consent_grant(
        organization=org,
        number=primary,
        source="pms_import" if is_customer else "web_form",
        evidence="Opted in on the rental agreement" if is_customer else "Checked 'text me' on the quote form",
    )
    ConsentEvent.objects.filter(pk=event.pk).update(created_at=signed_up)


def _demo_history(i: int, *, person: Lead | Customer, agent: User, rng: random.Random, now: datetime) -> None:
    """A call of the last month and a note of the last days."""
    history_record(
        owner=person,
        kind=History.Kind.CALL,
        agent=agent,
        summary=rng.choice(
            [
                "Asked about 10x10 climate-controlled units.",
                "Called about gate hours.",
                "Left a voicemail about the move-in date.",
                "Discussed autopay options.",
            ]
        ),
        occurred_at=now - timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 8)),
    )
    history_record(
        owner=person,
        kind=History.Kind.NOTE,
        agent=agent,
        summary=ABROAD[i][1] if i in ABROAD else "Prefers texts after 5 pm.",
        occurred_at=now - timedelta(days=rng.randint(0, 3)),
    )
