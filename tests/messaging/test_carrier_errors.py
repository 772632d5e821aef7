"""Carrier errors that teach: every row of the Twilio error table, through the real SDK.

Each error reaches the system two ways, a refused API call (``fail_next``) and a delivery
receipt's ``ErrorCode`` (a signed status callback); both go through the one table in
messaging/backends/twilio.py and end in the same, visible outcome.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import Consent, ConsentEvent, Facility, PhoneNumber
from messaging.backends import describe_provider_error
from messaging.backends.twilio import TWILIO_ERRORS
from messaging.models import Message, MessageTemplate
from messaging.services import message_queue, message_send
from tests.factories import MessageTemplateFactory, PhoneNumberFactory


@pytest.fixture
def sending(twilio_server, consented_number, agent, open_all_day, settings):
    """``sending(path=…, code=…)``: queue a text to the consented number, fail it with ``code``; the text."""
    settings.SMS_RATE_PER_SENDER = 50

    def run(*, code: int, path: str, template=None, client=None) -> Message:
        if template is not None:
            message = message_queue(phone_number=consented_number, sent_by=agent, template=template)
        else:
            message = message_queue(phone_number=consented_number, sent_by=agent, body="Your gate code is 4321.")
        if path == "api":
            twilio_server.fail_next(code)
            message_send(message_id=message.pk)
        else:
            message_send(message_id=message.pk)
            message.refresh_from_db()
            response = twilio_server.status_callback(message.provider_sid, "undelivered", error_code=code).post(client)
            assert response.status_code == 200
        message.refresh_from_db()
        return message

    return run


PATHS = ["api", "callback"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("code", [21610, 30004])
def test_a_blocked_by_the_person_error_revokes_consent_from_the_carrier(sending, client, consented_number, path, code):
    message = sending(code=code, path=path, client=client)

    consent = Consent.objects.get(organization=consented_number.organization, number=consented_number.number)
    assert consent.status == Consent.Status.REVOKED
    assert consent.last_event.source == ConsentEvent.Source.CARRIER
    assert message.status in ("failed", "undelivered")
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=None, body="again")
    assert refused.value.code == "opted_out"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("code", [21211, 21614, 30005, 30006])
def test_an_unknown_number_or_landline_is_marked_not_textable(sending, client, consented_number, path, code):
    other = PhoneNumberFactory(lead=consented_number.lead, number="+15125550177", is_primary=False)
    sending(code=code, path=path, client=client)

    consented_number.refresh_from_db()
    assert consented_number.not_textable_at is not None
    assert describe_provider_error(str(code)).description.rstrip(".") in consented_number.not_textable
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=None, body="again")
    assert refused.value.code == "not_textable"
    other.refresh_from_db()
    assert other.not_textable == ""  # the record's other number is still offered


def test_the_card_says_why_and_points_to_the_other_numbers(sending, agent_client, consented_number):
    PhoneNumberFactory(lead=consented_number.lead, number="+15125550177", is_primary=False)
    sending(code=30006, path="callback", client=agent_client)

    page = agent_client.get(f"/leads/{consented_number.lead_id}/").content.decode()

    assert "Not textable." in page
    assert "landline or its carrier cannot receive texts" in page
    assert "Other numbers on the record: (512) 555-0177" in page
    assert "30006" not in page.split("Not textable.")[1].split("</div>")[0]  # plain words, not a bare code


def test_an_unreachable_phone_is_retried_with_backoff_on_the_api_path(sending, twilio_server, consented_number):
    message = sending(code=30003, path="api")

    assert message.status == "queued"  # tried again later, not failed
    assert message.attempts == 1
    consented_number.refresh_from_db()
    assert consented_number.not_textable == ""


def test_an_unreachable_phone_is_marked_only_after_repeated_failures_over_days(
    sending, client, consented_number, settings
):
    first = sending(code=30003, path="callback", client=client)
    sending(code=30003, path="callback", client=client)
    consented_number.refresh_from_db()
    assert consented_number.not_textable == ""  # twice in a day: a phone switched off, not a dead number

    # The first failure was three days ago: three failures over three days.
    Message.objects.filter(pk=first.pk).update(failed_at=timezone.now() - timedelta(days=3))
    sending(code=30003, path="callback", client=client)

    consented_number.refresh_from_db()
    assert "unreachable 3 times over 3 days" in consented_number.not_textable


@pytest.mark.parametrize("path", PATHS)
def test_a_text_filtered_as_spam_flags_it_and_its_template_for_a_manager(sending, client, facility, path):
    template = MessageTemplateFactory(organization=facility.organization, body="WIN a FREE unit!!! Click now")

    message = sending(code=30007, path=path, client=client, template=template)

    assert message.flagged_as_spam
    template.refresh_from_db()
    assert template.flagged_at is not None
    assert "filtered the text as spam" in template.flag_reason
    assert MessageTemplate.objects.filter(flagged_at__isnull=False).count() == 1


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("code", [30032, 30034])
def test_an_unregistered_sender_flags_the_facility_and_refuses_its_next_send(
    sending, client, facility, consented_number, path, code
):
    sending(code=code, path=path, client=client)

    facility.refresh_from_db()
    assert facility.sender_registration == Facility.Registration.UNREGISTERED
    assert facility.sender_flagged_at is not None
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=PhoneNumber.objects.get(pk=consented_number.pk), sent_by=None, body="again")
    assert refused.value.code == "sender_not_registered"
    assert "A manager must register the sender" in refused.value.message
    assert "not registered" in refused.value.message or "not verified" in refused.value.message


def test_the_next_api_send_from_a_flagged_facility_is_refused_with_the_reason(sending, client, consented_number, agent):
    from tests.api.conftest import token_client

    sending(code=30034, path="callback", client=client)

    response = token_client(agent).post(
        "/api/v1/messages/", {"phone_number": consented_number.pk, "body": "Hello"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "sender_not_registered"
    assert "A2P 10DLC" in response.json()["detail"]


def test_a_text_queued_before_the_flag_is_not_sent_after_it(twilio_server, consented_number, agent, open_all_day):
    from interactions.services import facility_sender_flag

    waiting = Message.objects.create(
        organization=consented_number.organization,
        lead=consented_number.lead,
        phone_number=consented_number,
        facility=consented_number.lead.facility,
        to_number=consented_number.number,
        body="queued before the flag",
        status=Message.Status.QUEUED,
        queued_at=timezone.now(),
    )
    facility_sender_flag(facility=consented_number.lead.facility, reason="not registered for A2P 10DLC")

    message_send(message_id=waiting.pk)

    waiting.refresh_from_db()
    assert (waiting.status, waiting.error_code) == ("failed", "sender_not_registered")
    assert twilio_server.sends() == []


def test_every_row_of_the_table_speaks_plain_words_and_cites_its_source():
    for code in TWILIO_ERRORS:
        error = describe_provider_error(code)
        assert error.description and code not in error.description
        assert len(error.description.split()) >= 5
        assert error.source == f"https://www.twilio.com/docs/api/errors/{code}"
    assert describe_provider_error("63999").description == "Twilio refused the text (error 63999)."
