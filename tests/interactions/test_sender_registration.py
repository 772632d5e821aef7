"""Sender registration: recorded by managers in admin, refusing sends when failed or unregistered,
and the admin's count of failed texts per reason per facility.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import Facility, History
from interactions.services import facility_sender_flag
from messaging.models import Message
from messaging.services import message_queue
from tests.factories import MessageFactory, PhoneNumberFactory

CHANGE = "admin:interactions_facility_change"


def facility_form(facility: Facility, **registration) -> dict:
    return {
        "name": facility.name,
        "address": facility.address,
        "time_zone": facility.time_zone,
        "phone": "",
        "sms_sender_number": "",
        "sender_registration": "not_recorded",
        "sender_brand_id": "",
        "sender_campaign_id": "",
        "sender_toll_free_verification_id": "",
        **registration,
    }


@pytest.mark.parametrize("registration", ["failed", "unregistered"])
def test_a_failed_or_unregistered_sender_refuses_sends(consented_number, facility, open_all_day, registration):
    Facility.objects.filter(pk=facility.pk).update(sender_registration=registration)
    consented_number.lead.facility.refresh_from_db()

    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=None, body="Hello")

    assert refused.value.code == "sender_not_registered"
    assert "A manager must register the sender" in refused.value.message
    assert not Message.objects.exists()


def test_an_unrecorded_registration_does_not_refuse_until_required(consented_number, open_all_day, settings):
    assert consented_number.lead.facility.sender_registration == "not_recorded"
    message_queue(phone_number=consented_number, sent_by=None, body="Hello")

    settings.SENDER_REGISTRATION_REQUIRED = True
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=None, body="Hello again")
    assert refused.value.code == "sender_not_registered"


def test_the_card_says_a_manager_must_act(consented_number, facility, agent_client):
    facility_sender_flag(facility=facility, reason="The sender number is not registered for US texting (A2P 10DLC).")

    page = agent_client.get(f"/leads/{consented_number.lead_id}/").content.decode()

    assert "A manager must act." in page
    assert "not registered for US texting (A2P 10DLC)" in page
    assert 'aria-label="Text (512) 555-0142: not allowed"' in page


def test_a_manager_records_the_registration_and_the_flag_clears(facility, manager_client):
    facility_sender_flag(facility=facility, reason="The sender number is not registered for US texting (A2P 10DLC).")

    form = facility_form(facility, sender_registration="approved", sender_brand_id="BN123", sender_campaign_id="CM456")
    response = manager_client.post(reverse(CHANGE, args=[facility.pk]), form)

    assert response.status_code == 302
    facility.refresh_from_db()
    assert (facility.sender_registration, facility.sender_brand_id, facility.sender_campaign_id) == (
        "approved",
        "BN123",
        "CM456",
    )
    assert facility.sender_flagged_at is None and facility.sender_refusal == ""


def test_approved_without_ids_is_a_form_error(facility, manager_client):
    response = manager_client.post(
        reverse(CHANGE, args=[facility.pk]), facility_form(facility, sender_registration="approved")
    )

    assert response.status_code == 200
    assert "needs its 10DLC brand id and campaign id, or its toll-free verification id" in response.content.decode()
    facility.refresh_from_db()
    assert facility.sender_registration == "not_recorded"


def test_an_agent_reads_the_registration_but_cannot_change_it(facility, agent_client):
    page = agent_client.get(reverse(CHANGE, args=[facility.pk]))
    assert page.status_code == 200
    assert "Sender registration" in page.content.decode()

    response = agent_client.post(
        reverse(CHANGE, args=[facility.pk]), facility_form(facility, sender_registration="failed")
    )

    assert response.status_code == 403
    facility.refresh_from_db()
    assert facility.sender_registration == "not_recorded"


def test_the_admin_index_counts_failed_texts_per_reason_per_facility(facility, manager_client, other_org):
    phone = PhoneNumberFactory(lead__facility=facility)
    now = timezone.now()
    for code in ("30034", "30034", "30003"):
        MessageFactory(phone_number=phone, facility=facility, status="undelivered", error_code=code, failed_at=now)
    MessageFactory(
        phone_number=phone, facility=facility, status="failed", error_code="30006", failed_at=now - timedelta(days=8)
    )
    elsewhere = PhoneNumberFactory(lead__facility__organization=other_org)
    MessageFactory(phone_number=elsewhere, status="failed", error_code="30007", failed_at=now)

    page = manager_client.get(reverse("admin:index")).content.decode()

    assert "Texts failed in the last 7 days, per facility" in page
    assert f"{facility.name}</th>" in page
    assert "3 failed: 2 sender not registered, 1 phone unreachable" in page
    assert "landline" not in page.split('id="failed-texts"')[1].split("</div>")[0]  # older than 7 days
    assert "filtered as spam" not in page  # another organization's


def test_an_old_number_is_suggested_for_reconfirming_and_the_agent_confirms_it(
    consented_number, agent_client, settings, agent
):
    consented_number.__class__.objects.filter(pk=consented_number.pk).update(
        created_at=timezone.now() - timedelta(days=settings.NUMBER_RECONFIRM_AFTER_DAYS + 30)
    )
    card = f"/leads/{consented_number.lead_id}/"
    assert "Still their number?" in agent_client.get(card).content.decode()

    response = agent_client.post(f"/numbers/{consented_number.pk}/confirm/")

    assert response.status_code == 302
    consented_number.refresh_from_db()
    assert consented_number.confirmed_at > timezone.now() - timedelta(minutes=1)
    entry = History.objects.get(lead=consented_number.lead, kind=History.Kind.NOTE)
    assert entry.summary == "Confirmed (512) 555-0142 is still their number."
    assert entry.agent == agent
    assert "Still their number?" not in agent_client.get(card).content.decode()


def test_a_reply_from_the_number_counts_as_confirming_it(consented_number, facility, twilio_server, client):
    Facility.objects.filter(pk=facility.pk).update(sms_sender_number="+15125550100")
    consented_number.__class__.objects.filter(pk=consented_number.pk).update(
        created_at=timezone.now() - timedelta(days=500)
    )

    reply = twilio_server.inbound(from_="+15125550142", to="+15125550100", body="See you Tuesday")
    assert reply.post(client).status_code == 200

    consented_number.refresh_from_db()
    assert consented_number.confirmed_at > timezone.now() - timedelta(minutes=1)


def test_confirming_another_organizations_number_is_not_found(other_org_number, agent_client):
    assert agent_client.post(f"/numbers/{other_org_number.pk}/confirm/").status_code == 404
