"""The benchmark organization: facilities with sender numbers, leads with consented numbers,
an agent with an API token, and a texting window open all day (so quiet hours never refuse)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import phonenumbers


@dataclass
class BenchOrg:
    organization: object
    facilities: list
    agent: object
    token: str
    phone_ids: list[int]
    numbers: list[str]  # E.164, same order as phone_ids
    senders: list[str]  # one per facility


def bench_numbers(count: int, *, area: str = "512", start: int = 0) -> list[str]:
    """``count`` valid US numbers ``+1<area>555xxxx`` (validity checked with phonenumbers)."""
    found: list[str] = []
    n = start
    while len(found) < count:
        candidate = f"+1{area}555{n:04d}"
        n += 1
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            found.append(candidate)
        if n > 9999:
            raise ValueError("not enough numbers in one exchange")
    return found


def bench_org_create(*, people: int = 500, facilities: int = 1, slug: str = "bench", sender_start: int = 0) -> BenchOrg:
    """Create the benchmark organization (in an emptied database)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from interactions.models import Consent, ConsentEvent, Facility, Lead, Membership, Organization, PhoneNumber

    organization = Organization.objects.create(
        name="Bench Storage", slug=slug, quiet_hours_start=dt.time(0, 0), quiet_hours_end=dt.time(23, 59)
    )
    senders = bench_numbers(facilities, area="737", start=sender_start)
    sites = [
        Facility.objects.create(
            organization=organization,
            name=f"Bench Storage {i + 1}",
            time_zone="America/Chicago",
            sms_sender_number=sender,
        )
        for i, sender in enumerate(senders)
    ]
    user = get_user_model().objects.create_user(username=f"{slug}-agent", password="bench-password-12345")
    Membership.objects.create(user=user, organization=organization, role=Membership.Role.AGENT)
    token = Token.objects.create(user=user).key

    numbers = bench_numbers(people)
    leads = Lead.objects.bulk_create(
        Lead(organization=organization, facility=sites[i % len(sites)], first_name=f"Pat{i}", last_name="Bench")
        for i in range(people)
    )
    phones = PhoneNumber.objects.bulk_create(
        PhoneNumber(organization=organization, lead=lead, number=number, is_primary=True)
        for lead, number in zip(leads, numbers, strict=True)
    )
    # The ledger the consent service writes, in bulk: one grant event and one current row per number.
    events = ConsentEvent.objects.bulk_create(
        ConsentEvent(
            organization=organization,
            number=number,
            action=ConsentEvent.Action.GRANT,
            source=ConsentEvent.Source.WEB_FORM,
            evidence="benchmark",
        )
        for number in numbers
    )
    Consent.objects.bulk_create(
        Consent(organization=organization, number=event.number, status=Consent.Status.GRANTED, last_event=event)
        for event in events
    )
    return BenchOrg(
        organization=organization,
        facilities=sites,
        agent=user,
        token=token,
        phone_ids=[p.pk for p in phones],
        numbers=numbers,
        senders=senders,
    )
