"""End to end: a real send through the twilio SDK to the Twilio-compatible test server, which then
posts signed callbacks and inbound texts to the live Django server, as Twilio would."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from core.errors import ServiceError
from interactions.models import ConsentEvent, PhoneNumber
from interactions.services import consent_status
from messaging.models import Message
from messaging.services import message_queue

pytestmark = pytest.mark.django_db(transaction=True)

PERSON = "+15125550142"


@pytest.fixture
def public_live_server(live_server, settings, twilio_server):
    """The live server as the public URL: Twilio signs, and the app checks, against it."""
    settings.PUBLIC_BASE_URL = live_server.url
    twilio_server.public_base_url = live_server.url
    return live_server


def _send(phone: PhoneNumber, agent, body: str) -> Message:
    phone = PhoneNumber.objects.select_related("organization").get(pk=phone.pk)
    message = message_queue(phone_number=phone, sent_by=agent, body=body)  # committed; sent on commit (eager)
    message.refresh_from_db()
    return message


def test_signed_callbacks_after_a_real_send_update_the_text_and_a_stop_ends_texting(
    public_live_server, twilio_server, consented_number, open_all_day, agent
):
    message = _send(consented_number, agent, "Your unit B204 is ready.")
    assert message.status == Message.Status.SENT
    assert twilio_server.created_count(to=PERSON) == 1
    sid = message.provider_sid

    assert twilio_server.post_status_callback(sid, "delivered", base_url=public_live_server.url)[0] == 200
    assert twilio_server.post_status_callback(sid, "sent", base_url=public_live_server.url)[0] == 200  # late
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED

    stop = twilio_server.inbound(from_=PERSON, to=str(consented_number.lead.facility.sms_sender_number), body="STOP")
    status, twiml = twilio_server.post(stop, base_url=public_live_server.url)
    assert status == 200 and "<Message>" not in twiml
    assert Message.objects.filter(direction=Message.Direction.INBOUND, provider_sid=stop.params["MessageSid"]).exists()
    with pytest.raises(ServiceError) as refused:
        _send(consented_number, agent, "One more thing")
    assert refused.value.code == "opted_out"
    # After the STOP only its one confirmation went (FCC 24-24), never the refused text.
    confirmation = consented_number.organization.opt_out_confirmation
    assert twilio_server.created_count(to=PERSON) - twilio_server.created_count(to=PERSON, body=confirmation) == 1
    assert twilio_server.created_count(to=PERSON, body=confirmation) <= 1


def test_a_21610_status_callback_revokes_consent_as_carrier(
    public_live_server, twilio_server, consented_number, open_all_day, agent
):
    message = _send(consented_number, agent, "Rent is due Friday.")

    status, _ = twilio_server.post_status_callback(
        message.provider_sid, "failed", error_code=21610, base_url=public_live_server.url
    )

    assert status == 200
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, "21610")
    state = consent_status(organization=consented_number.organization, number=PERSON)
    assert state.source == ConsentEvent.Source.CARRIER and state.person_opted_out


def test_a_callback_signed_for_another_url_is_refused_by_the_live_server(
    public_live_server, twilio_server, consented_number, open_all_day, agent, settings
):
    message = _send(consented_number, agent, "Gate code 4411.")
    forged = twilio_server.status_callback(message.provider_sid, "delivered")
    forged.signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        "https://evil.example" + forged.path, forged.params
    )

    status, _ = twilio_server.post(forged, base_url=public_live_server.url)

    assert status == 403
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
