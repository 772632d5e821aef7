"""Quiet hours in the recipient's local time; scheduled texts are rows released by the sweeper."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from core.errors import ServiceError
from interactions.services import consent_grant
from messaging.compliance.engine import recipient_time_zone
from messaging.models import Message
from messaging.services import message_queue, message_send, messages_release_scheduled
from tests.factories import FacilityFactory, PhoneNumberFactory


def _phone(facility, number):
    phone = PhoneNumberFactory(lead__facility=facility, number=number)
    consent_grant(organization=facility.organization, number=number, source="web_form", evidence="form")
    return phone


@pytest.fixture
def la_facility(org):
    return FacilityFactory(organization=org, name="Lakeside LA", time_zone="America/Los_Angeles")


def test_an_unambiguous_area_code_decides_the_zone(la_facility):
    phone = _phone(la_facility, "+12125550142")  # New York number at a Los Angeles facility
    assert str(recipient_time_zone(number=phone.number, facility=la_facility)) == "America/New_York"


def test_an_area_code_spanning_zones_falls_back_to_the_facility(la_facility):
    phone = _phone(la_facility, "+12085550142")  # Idaho: Boise or Los Angeles time
    assert str(recipient_time_zone(number=phone.number, facility=la_facility)) == "America/Los_Angeles"


def test_a_new_york_number_is_refused_at_nine_thirty_pm_new_york_time(la_facility, agent):
    phone = _phone(la_facility, "+12125550142")
    now = datetime(2026, 1, 15, 2, 30, tzinfo=UTC)  # 21:30 New York, 18:30 Los Angeles
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=phone, sent_by=agent, body="Hi", now=now)
    assert caught.value.code == "quiet_hours"
    assert caught.value.extra["next_allowed_at"] == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)  # 08:00 New York
    assert "EST" in caught.value.message


def test_an_ambiguous_number_follows_the_facility_window(la_facility, agent):
    phone = _phone(la_facility, "+12085550142")
    now = datetime(2026, 1, 15, 2, 30, tzinfo=UTC)  # 18:30 in Los Angeles: open
    assert message_queue(phone_number=phone, sent_by=agent, body="Hi", now=now).status == Message.Status.QUEUED


def test_before_the_window_opens_the_next_allowed_time_is_the_same_morning(consented_number, agent):
    early = datetime(2026, 1, 15, 12, 59, tzinfo=UTC)  # 06:59 Austin
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=consented_number, sent_by=agent, body="Hi", now=early)
    assert caught.value.extra["next_allowed_at"] == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # 09:00, Texas law


def test_the_organization_sets_its_own_window(consented_number, agent, org):
    org.quiet_hours_start, org.quiet_hours_end = dt.time(10, 0), dt.time(18, 0)
    org.save()
    consented_number.refresh_from_db()
    at_nine = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # 09:00 Austin
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=consented_number, sent_by=agent, body="Hi", now=at_nine)
    assert caught.value.extra["next_allowed_at"] == datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
    assert "10:00 AM–6:00 PM" in caught.value.message


def test_a_scheduled_text_waits_as_a_row_and_is_released_when_due(consented_number, agent, outbox):
    now = datetime(2026, 1, 15, 4, 30, tzinfo=UTC)  # 22:30 Austin: closed
    send_at = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # the next allowed time (09:00 Austin, Texas law)
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Morning!", send_at=send_at, now=now)
    assert (message.status, message.send_at, message.queued_at) == (Message.Status.SCHEDULED, send_at, None)

    assert messages_release_scheduled(now=send_at - dt.timedelta(seconds=1)) == 0
    with freeze_time(send_at + dt.timedelta(seconds=5)):
        assert messages_release_scheduled() == 1
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED
        message_send(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert [m["message_id"] for m in outbox] == [message.pk]


def test_a_release_queues_the_send_after_commit(consented_number, agent, django_capture_on_commit_callbacks):
    send_at = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
    message_queue(
        phone_number=consented_number, sent_by=agent, body="Hi", send_at=send_at, now=send_at - dt.timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        messages_release_scheduled(now=send_at)
    # one send queued (besides the announcement of the status change to the apps above)
    assert len([callback for callback in callbacks if not getattr(callback, "announces", None)]) == 1


def test_a_scheduled_send_inside_quiet_hours_is_refused(consented_number, agent):
    now = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
    with pytest.raises(ServiceError) as caught:
        message_queue(
            phone_number=consented_number,
            sent_by=agent,
            body="Hi",
            send_at=datetime(2026, 1, 16, 5, 0, tzinfo=UTC),
            now=now,
        )
    assert caught.value.code == "quiet_hours"


def test_a_text_that_waited_past_closing_time_is_held_until_the_window_opens(consented_number, agent, outbox):
    queued_at = datetime(2026, 1, 15, 2, 59, tzinfo=UTC)  # 20:59 Austin
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Hi", now=queued_at)
    with freeze_time("2026-01-15T03:01:00Z"):  # 21:01 Austin: the worker gets to it too late
        assert message_send(message_id=message.pk) is None
    message.refresh_from_db()
    assert message.status == Message.Status.SCHEDULED
    assert message.send_at == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # 09:00 Austin, Texas law
    assert outbox == []
