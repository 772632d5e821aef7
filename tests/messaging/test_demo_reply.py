"""A reply on ``make run``: ``manage.py demo_reply`` and the panel's demo-only "Simulate a reply".

Both store the reply through the inbound service Twilio's webhook calls, so a STOP opts out, START opts
back in and plain words are flagged exactly as for a real reply. The button is there only with DEBUG on.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from core.errors import ServiceError
from interactions.models import ConsentEvent, History
from interactions.services import consent_status
from messaging.models import Message
from messaging.services import SIMULATED_SID_PREFIX, message_queue
from tests.factories import FacilityFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db


def demo_reply(*args: str) -> str:
    out = StringIO()
    call_command("demo_reply", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def texted(consented_number, agent, open_all_day, outbox, django_capture_on_commit_callbacks):
    """``consented_number``, texted once by the agent (sent on commit, as the eager worker does)."""
    with django_capture_on_commit_callbacks(execute=True):
        message_queue(phone_number=consented_number, sent_by=agent, body="Your quote is ready.")
    assert Message.objects.get().sent_at is not None
    return consented_number


def replies():
    return Message.objects.filter(direction=Message.Direction.INBOUND)


def test_demo_reply_alone_makes_the_person_texted_last_answer_on_their_card(texted, settings):
    settings.SMS_BACKEND = "console"
    output = demo_reply()

    reply = replies().get()
    assert reply.from_number == texted.number
    assert reply.to_number == texted.owner.facility.sms_sender_number  # where a real reply arrives
    assert reply.lead == texted.lead and reply.provider_sid.startswith(SIMULATED_SID_PREFIX)
    assert History.objects.filter(lead=texted.lead, kind=History.Kind.TEXT, summary__contains="Text received").exists()
    assert f"{texted.lead.full_name} (lead {texted.lead.pk}) replied from {texted.national}" in output


def test_a_demo_stop_opts_the_number_out_as_a_real_stop_does(texted, agent, settings):
    settings.SMS_BACKEND = "console"
    demo_reply("--to", texted.lead.full_name, "--body", "stop")

    state = consent_status(organization=texted.organization, number=texted.number)
    assert state.is_revoked and state.person_opted_out
    assert state.source == ConsentEvent.Source.SMS_KEYWORD
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=texted, sent_by=agent, body="One more thing")
    assert refused.value.code == "opted_out"

    demo_reply("--to", str(texted.number), "--body", "START")
    assert consent_status(organization=texted.organization, number=texted.number).is_granted


def test_demo_reply_from_picks_which_of_the_persons_numbers_writes(texted, settings):
    settings.SMS_BACKEND = "console"
    work = PhoneNumberFactory(lead=texted.lead, number="+15125550143", is_primary=False)

    demo_reply("--from", "(512) 555-0143", "--body", "please stop texting me at work")

    reply = replies().get()
    assert reply.from_number == work.number and reply.phone_number == work
    with pytest.raises(CommandError, match="not one of"):
        demo_reply("--from", "+15125550177")


def test_demo_reply_refuses_a_paid_backend_whose_people_are_real(texted, settings):
    settings.SMS_BACKEND = "twilio"
    with pytest.raises(CommandError, match="paid SMS backend"):
        demo_reply()
    assert not replies().exists()


# --- the panel's button ---------------------------------------------------------------------------


def url(phone) -> str:
    return reverse("text_demo_reply", args=[phone.pk])


def test_the_button_and_its_address_are_not_there_with_debug_off(texted, agent_client, settings):
    settings.DEBUG = False
    panel = agent_client.get(reverse("text_panel", args=[texted.pk])).content.decode()
    assert "Simulate a reply" not in panel
    for method in ("get", "post"):
        assert getattr(agent_client, method)(url(texted), {"body": "STOP"}).status_code == 404
    assert Client().post(url(texted), {"body": "STOP"}).status_code == 404  # before sign-in is even asked
    assert not replies().exists()


def test_with_debug_on_the_panel_simulates_a_reply_and_shows_what_it_did(texted, agent_client, settings):
    settings.DEBUG = True
    panel = agent_client.get(reverse("text_panel", args=[texted.pk])).content.decode()
    assert "Simulate a reply" in panel and url(texted) in panel

    response = agent_client.post(url(texted), {"body": "STOP"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "replied from (512) 555-0142: “STOP”. The number is opted out" in html
    assert 'id="send-btn" type="submit" class="primary send-btn" disabled' in html  # the panel knows at once
    assert "textdesk:sent" in response["HX-Trigger"]  # the card’s conversation refreshes
    assert replies().get().body == "STOP"


def test_the_button_refuses_an_empty_reply_and_another_organizations_number(
    texted, other_org_number, agent_client, settings
):
    settings.DEBUG = True
    empty = agent_client.post(url(texted), {"body": "  "}, HTTP_HX_REQUEST="true")
    assert "Type what the person answers." in empty.content.decode()
    assert agent_client.post(url(other_org_number), {"body": "STOP"}).status_code == 404
    assert agent_client.get(url(texted)).status_code == 405
    assert not replies().exists()
    assert consent_status(organization=other_org_number.organization, number=other_org_number.number).is_granted


def test_a_reply_that_would_be_filed_elsewhere_is_refused_and_nothing_is_kept(agent_client, org, settings):
    settings.DEBUG = True
    no_sender = FacilityFactory(organization=org, sms_sender_number="")
    phone = PhoneNumberFactory(lead__facility=no_sender, number="+15125550150")

    response = agent_client.post(url(phone), {"body": "Hello?"}, HTTP_HX_REQUEST="true")

    assert "give the facility an SMS sender number" in response.content.decode()
    assert not replies().exists()
