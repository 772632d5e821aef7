"""message_queue: one text per request to Twilio, the link and callback set; every refusal writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ServiceError
from interactions.models import History
from interactions.services import consent_grant, consent_revoke
from messaging.models import Message, UnsubscribeLink
from messaging.services import message_queue
from tests.factories import MessageTemplateFactory, PhoneNumberFactory

# 12:00 in Austin (UTC-6 in winter): inside the default 08:00–21:00 window.
NOON_AUSTIN = datetime(2026, 1, 14, 18, 0, tzinfo=UTC)


def test_queueing_for_a_consented_number_makes_exactly_one_twilio_request(
    twilio_server, consented_number, agent, open_all_day, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(phone_number=consented_number, sent_by=agent, body="Your unit is ready.")

    message.refresh_from_db()
    [request] = twilio_server.sends()
    link = UnsubscribeLink.objects.get(organization=consented_number.organization, number=consented_number.number)
    assert request.params == {
        "To": "+15125550142",
        "From": "+15125550199",
        "Body": f"Your unit is ready.\nUnsubscribe: https://textdesk.test/u/{link.token}",
        "StatusCallback": "https://textdesk.test/webhooks/twilio/status/",
    }
    assert request.headers["Authorization"].startswith("Basic ")
    [created] = twilio_server.created()
    assert (message.status, message.provider_sid, message.attempts) == ("sent", created["sid"], 1)
    assert message.sent_at is not None
    assert len(link.token) >= 10 and link.token.isalnum()


def test_a_facility_without_a_sender_number_sends_through_the_messaging_service(
    twilio_server, consented_number, agent, open_all_day, settings, django_capture_on_commit_callbacks
):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "1" * 32
    facility = consented_number.owner.facility
    facility.sms_sender_number = ""
    facility.save()

    with django_capture_on_commit_callbacks(execute=True):
        message_queue(phone_number=consented_number, sent_by=agent, body="Hello")

    [request] = twilio_server.sends()
    assert request.params["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in request.params


def test_the_same_link_is_reused_for_every_text_to_a_number(consented_number, agent, open_all_day):
    first = message_queue(phone_number=consented_number, sent_by=agent, body="One")
    second = message_queue(phone_number=consented_number, sent_by=agent, body="Two")
    assert first.body.rsplit("/u/", 1)[1] == second.body.rsplit("/u/", 1)[1]
    assert UnsubscribeLink.objects.count() == 1


def test_queueing_records_the_text_on_the_persons_history(consented_number, agent, open_all_day):
    message_queue(phone_number=consented_number, sent_by=agent, body="See you Friday")
    entry = History.objects.get(kind=History.Kind.TEXT)
    assert entry.lead == consented_number.lead
    assert "See you Friday" in entry.summary
    assert entry.agent == agent


# --- refusals: a clear code, and nothing written ---------------------------------------


@pytest.fixture
def nothing_written(django_capture_on_commit_callbacks):
    """Asserts, after the refusal, that no row, history entry, link or queued task was written."""
    texts = Message.objects.filter(confirms_event=None)  # an opt-out's own confirmation is not the refused text
    confirmations = Message.objects.exclude(confirms_event=None).filter(status=Message.Status.QUEUED)
    before = (texts.count(), History.objects.count(), UnsubscribeLink.objects.count())
    queued_before = confirmations.count()
    with django_capture_on_commit_callbacks() as callbacks:
        yield
    assert (texts.count(), History.objects.count(), UnsubscribeLink.objects.count()) == before
    # The test's own consent change is announced to the apps above (interactions.signals); the only
    # send queued is an opt-out's own confirmation.
    sends = [callback for callback in callbacks if not getattr(callback, "announces", None)]
    assert len(sends) == confirmations.count() - queued_before


def refused(code, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        message_queue(**kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_no_consent_on_record_is_refused(facility, agent, nothing_written):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550143")
    error = refused("no_consent", phone_number=phone, sent_by=agent, body="Hi", now=NOON_AUSTIN)
    assert error.field == "phone_number"
    assert "(512) 555-0143" in error.message


def test_consent_withdrawn_by_an_agent_is_refused(consented_number, agent, nothing_written):
    org = consented_number.organization
    consent_revoke(organization=org, number=consented_number.number, source="agent", evidence="asked")
    error = refused("no_consent", phone_number=consented_number, sent_by=agent, body="Hi", now=NOON_AUSTIN)
    assert "withdrawn" in error.message


@pytest.mark.parametrize("source", ["sms_keyword", "unsubscribe_link", "carrier"])
def test_a_person_who_opted_out_is_refused_in_plain_words(consented_number, agent, source, nothing_written):
    consent_revoke(organization=consented_number.organization, number=consented_number.number, source=source)
    error = refused("opted_out", phone_number=consented_number, sent_by=agent, body="Hi", now=NOON_AUSTIN)
    assert "opted out" in error.message
    assert "START" in error.message
    assert error.extra["opted_out_at"] is not None


def test_outside_quiet_hours_is_refused_with_the_next_allowed_time(consented_number, agent, nothing_written):
    late = datetime(2026, 1, 15, 4, 30, tzinfo=UTC)  # 22:30 in Austin
    error = refused("quiet_hours", phone_number=consented_number, sent_by=agent, body="Hi", now=late)
    assert error.extra["next_allowed_at"] == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # 09:00 Austin (Texas law)
    assert "9:00 AM CST" in error.message and "Texas law (by the area code)" in error.message
    assert error.field == "send_at"


def test_a_text_over_1600_characters_with_the_link_is_refused(consented_number, agent, nothing_written):
    error = refused("too_long", phone_number=consented_number, sent_by=agent, body="a" * 1580, now=NOON_AUSTIN)
    assert error.extra["limit"] == 1600
    assert error.extra["characters"] > 1600
    assert "Shorten it by" in error.message


def test_an_invalid_number_is_refused(facility, agent, nothing_written):
    phone = PhoneNumberFactory(lead__facility=facility, number="+12005550100")
    refused("invalid_number", phone_number=phone, sent_by=agent, body="Hi", now=NOON_AUSTIN)


@pytest.mark.parametrize("body", ["", "   \n "])
def test_an_empty_body_is_refused(consented_number, agent, body, nothing_written):
    error = refused("empty_body", phone_number=consented_number, sent_by=agent, body=body, now=NOON_AUSTIN)
    assert error.field == "body"


def test_a_template_that_fills_in_to_nothing_is_refused(consented_number, agent, nothing_written):
    template = MessageTemplateFactory(organization=consented_number.organization, body="{{ unit }}")
    refused("empty_body", phone_number=consented_number, sent_by=agent, template=template, now=NOON_AUSTIN)


def test_an_inactive_template_is_refused(consented_number, agent, nothing_written):
    template = MessageTemplateFactory(organization=consented_number.organization, active=False)
    refused("inactive_template", phone_number=consented_number, sent_by=agent, template=template, now=NOON_AUSTIN)


def test_a_send_time_without_a_time_zone_is_refused(consented_number, agent, nothing_written):
    naive = datetime(2026, 1, 20, 12, 0)
    refused("invalid_send_at", phone_number=consented_number, sent_by=agent, body="Hi", send_at=naive, now=NOON_AUSTIN)


def test_a_send_time_more_than_90_days_ahead_is_refused(consented_number, agent, nothing_written):
    far = NOON_AUSTIN + timedelta(days=91)
    refused("invalid_send_at", phone_number=consented_number, sent_by=agent, body="Hi", send_at=far, now=NOON_AUSTIN)


def test_a_repeated_idempotency_key_is_refused_without_a_second_text(consented_number, agent, open_all_day):
    message_queue(phone_number=consented_number, sent_by=agent, body="Hi", idempotency_key="k-1", now=NOON_AUSTIN)
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=consented_number, sent_by=agent, body="Hi", idempotency_key="k-1", now=NOON_AUSTIN)
    assert (caught.value.code, caught.value.status) == ("duplicate", 409)
    assert Message.objects.count() == 1


def test_granting_again_after_an_agent_revoke_lets_texts_through(consented_number, agent):
    org = consented_number.organization
    consent_revoke(organization=org, number=consented_number.number, source="agent", evidence="asked")
    consent_grant(organization=org, number=consented_number.number, source="agent", evidence="verbal yes")
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Hi", now=NOON_AUSTIN)
    assert message.status == Message.Status.QUEUED
