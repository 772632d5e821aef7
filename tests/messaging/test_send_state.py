"""``number_send_state``: the send's one read of the number, written in SQL, gives the same
answers as the rules of record it stands for (``consent_status``, the unsubscribe link,
``inbound_flagged``), on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from interactions.models import Consent, ConsentEvent
from interactions.services import consent_revoke
from messaging.models import Message
from messaging.selectors import inbound_flagged, number_send_state
from messaging.services import unsubscribe_link_get_or_create
from tests.factories import FacilityFactory, OrganizationFactory, PhoneNumberFactory, ReplyFactory

pytestmark = pytest.mark.django_db


def reply(phone, **fields) -> Message:
    """A flagged reply from ``phone`` (``ReplyFactory``), unless ``fields`` say otherwise."""
    return ReplyFactory(phone_number=phone, body="please stop texting me", **{"flagged": True, **fields})


def revoke_at(phone, minutes_ago: int) -> ConsentEvent:
    event = ConsentEvent.objects.create(
        organization=phone.organization, number=phone.number, action="revoke", source="agent", evidence="call"
    )
    ConsentEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    event.refresh_from_db()
    return event


def rule_of_record(phone) -> int | None:
    return (
        inbound_flagged(phone.organization)
        .filter(from_number=phone.number)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def state(phone):
    return number_send_state(organization_id=phone.organization_id, number=phone.number)


def test_consent_and_link_token_as_recorded(consented_number, facility):
    assert state(consented_number).consent_status == Consent.Status.GRANTED
    assert state(consented_number).link_token is None  # no text yet, no link yet
    link = unsubscribe_link_get_or_create(organization=consented_number.organization, number=consented_number.number)
    assert state(consented_number).link_token == link.token

    stranger = PhoneNumberFactory(lead__facility=facility, number="+15125550177")
    assert state(stranger).consent_status is None

    consent_revoke(
        organization=consented_number.organization, number=consented_number.number, source="agent", evidence="call"
    )
    assert state(consented_number).consent_status == Consent.Status.REVOKED


@pytest.mark.parametrize(
    "story",
    [
        "nothing",
        "one open",
        "two open: the oldest",
        "dismissed",
        "not flagged",
        "answered by a later opt-out",
        "an opt-out before the reply does not answer it",
        "an opt-out at the same moment answers it",
        "another organization's reply",
    ],
)
def test_the_open_request_is_the_one_inbound_flagged_names(consented_number, story):
    phone = consented_number
    if story == "one open":
        reply(phone)
    elif story == "two open: the oldest":
        reply(phone, minutes_ago=5)
        reply(phone, minutes_ago=1)
    elif story == "dismissed":
        reply(phone, flag_dismissed_at=timezone.now())
    elif story == "not flagged":
        reply(phone, flagged=False)
    elif story == "answered by a later opt-out":
        reply(phone, minutes_ago=10)
        revoke_at(phone, minutes_ago=2)
    elif story == "an opt-out before the reply does not answer it":
        revoke_at(phone, minutes_ago=30)
        reply(phone, minutes_ago=10)
    elif story == "an opt-out at the same moment answers it":
        reply(phone, received_at=revoke_at(phone, minutes_ago=3).created_at)
    elif story == "another organization's reply":
        elsewhere = FacilityFactory(organization=OrganizationFactory())
        reply(PhoneNumberFactory(lead__facility=elsewhere, number=phone.number))

    expected = rule_of_record(phone)
    assert state(phone).open_request == expected
    still_open = {"one open", "two open: the oldest", "an opt-out before the reply does not answer it"}
    assert (expected is None) == (story not in still_open)


def test_it_is_one_query(consented_number):
    reply(consented_number)
    with CaptureQueriesContext(connection) as queries:
        state(consented_number)
    assert len(queries) == 1
