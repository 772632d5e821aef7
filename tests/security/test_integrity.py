"""Tenant and role integrity: each finding of the attack on a second organization, reproduced and refused.

Sender numbers belong to one facility; history, messages and the consent ledger are append-only;
people are archived, never deleted; admin writes go through the services; managers create the
people they add; the ledger keeps who acted by name.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse

from core.errors import ServiceError
from interactions.models import ConsentEvent, Customer, Facility, History, Lead, Membership, PhoneNumber
from interactions.pms import import_pms_customers
from interactions.selectors import people_search
from interactions.services import consent_grant, consent_status, history_record, person_archive
from messaging.models import Message
from messaging.services import message_queue
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    HistoryFactory,
    LeadFactory,
    MembershipFactory,
    MessageFactory,
    PhoneNumberFactory,
    UserFactory,
)
from tests.messaging.twilio_payloads import post_inbound

pytestmark = pytest.mark.django_db

A_SENDER = "+15125550199"  # the first facility's sender number (the stored inbound payloads are sent to it)


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def rival_manager_client(other_org) -> Client:
    user = MembershipFactory(organization=other_org, role=Membership.Role.MANAGER, user__username="rival-mgr").user
    client = Client()
    client.force_login(user)
    return client


def _facility_form(facility: Facility, **changes) -> dict:
    data = {
        "name": facility.name,
        "address": facility.address,
        "time_zone": facility.time_zone,
        "phone": str(facility.phone or ""),
        "sms_sender_number": str(facility.sms_sender_number or ""),
    }
    return {**data, **changes}


# --- 1. sender numbers belong to one facility ------------------------------------------------


def test_a_manager_cannot_set_another_organizations_sender_number_in_admin(facility, other_org, rival_manager_client):
    theirs = FacilityFactory(organization=other_org, name="Rival Dallas", sms_sender_number="+12145550111")

    response = rival_manager_client.post(
        admin_url(Facility, "change", theirs.pk), _facility_form(theirs, sms_sender_number=A_SENDER)
    )

    assert response.status_code == 302  # saved, but the sender number is read-only for managers
    theirs.refresh_from_db()
    assert str(theirs.sms_sender_number) == "+12145550111"
    page = rival_manager_client.get(admin_url(Facility, "change", theirs.pk)).content.decode()
    assert 'name="sms_sender_number"' not in page


def test_a_superuser_giving_a_taken_sender_number_gets_a_form_error(facility, other_org, admin_client):
    theirs = FacilityFactory(organization=other_org, name="Rival Dallas", sms_sender_number="+12145550111")

    response = admin_client.post(
        admin_url(Facility, "change", theirs.pk),
        _facility_form(theirs, sms_sender_number=A_SENDER, organization=other_org.pk),
    )

    assert response.status_code == 200
    assert "already used by another facility" in str(response.context["adminform"].form.errors)
    theirs.refresh_from_db()
    assert str(theirs.sms_sender_number) == "+12145550111"


def test_the_database_refuses_a_second_facility_with_the_same_sender_number(facility, other_org):
    with pytest.raises(IntegrityError), transaction.atomic():
        Facility.objects.create(organization=other_org, name="Copycat", sms_sender_number=A_SENDER)

    # Blank means "the messaging service": any number of facilities may leave it blank.
    Facility.objects.create(organization=other_org, name="Blank 1", sms_sender_number="")
    Facility.objects.create(organization=other_org, name="Blank 2", sms_sender_number="")


def test_the_database_refuses_a_messaging_service_of_two_organizations(org, other_org):
    org.twilio_messaging_service_sid = "MG" + "1" * 32
    org.save()
    other_org.twilio_messaging_service_sid = "MG" + "1" * 32

    with pytest.raises(IntegrityError), transaction.atomic():
        other_org.save()


def test_a_stop_to_a_sender_number_revokes_consent_in_its_own_organization(client, consented_number, other_org):
    # The rival now has its own number (it can no longer claim A's): a STOP to A's number is A's.
    PhoneNumberFactory(lead=LeadFactory(facility__organization=other_org), number=str(consented_number.number))

    response = post_inbound(client, "inbound_stop")

    assert response.status_code == 200
    assert consent_status(organization=consented_number.organization, number=consented_number.number).status == (
        "revoked"
    )
    assert Message.objects.get(direction="inbound").organization == consented_number.organization


# --- 2. history, messages and the ledger are append-only; people are archived ------------------


def test_an_agent_cannot_edit_or_delete_history_in_admin(agent_client, facility):
    entry = HistoryFactory(lead=LeadFactory(facility=facility), summary="Called about a 10x10.")

    edit = agent_client.post(
        admin_url(History, "change", entry.pk), {"kind": "note", "summary": "Never called.", "occurred_at": ""}
    )
    delete = agent_client.post(admin_url(History, "delete", entry.pk), {"post": "yes"})
    bulk = agent_client.post(
        admin_url(History, "changelist"), {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )

    assert edit.status_code == 403
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.summary == "Called about a 10x10."
    changelist = agent_client.get(admin_url(History, "changelist"))
    assert "delete_selected" not in changelist.content.decode()


@pytest.mark.parametrize("model", [History, Message, ConsentEvent])
def test_nobody_adds_evidence_rows_by_hand_in_admin_not_even_a_manager(model, manager_client, admin_client):
    assert manager_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.get(admin_url(model, "add")).status_code == 403


def test_an_agent_cannot_fabricate_a_consent_entry_authored_as_the_manager(agent_client, manager, consented_number):
    response = agent_client.post(
        admin_url(ConsentEvent, "add"),
        {"number": "+15125550142", "action": "grant", "source": "agent", "actor": manager.pk, "evidence": "verbal"},
    )

    assert response.status_code == 403
    assert not ConsentEvent.objects.filter(actor=manager).exists()


def test_messages_cannot_be_deleted_in_admin(manager_client, facility):
    message = MessageFactory(phone_number__lead__facility=facility)

    response = manager_client.post(admin_url(Message, "delete", message.pk), {"post": "yes"})

    assert response.status_code == 403
    assert Message.objects.filter(pk=message.pk).exists()


def test_a_lead_cannot_be_deleted_in_admin_and_is_archived_with_its_history(agent_client, facility):
    phone = PhoneNumberFactory(lead__facility=facility)
    lead = phone.lead
    history_record(owner=lead, kind=History.Kind.CALL, summary="Asked about prices.")

    delete = agent_client.post(admin_url(Lead, "delete", lead.pk), {"post": "yes"})
    archive = agent_client.post(
        admin_url(Lead, "changelist"), {"action": "archive", "_selected_action": [lead.pk], "index": 0}
    )

    assert delete.status_code == 403
    assert archive.status_code == 302
    lead.refresh_from_db()
    assert lead.archived_at is not None
    assert lead.history.filter(summary="Asked about prices.").exists()
    assert lead.phone_numbers.filter(pk=phone.pk).exists()


def test_deleting_a_person_with_history_is_refused_by_the_database_rules(facility):
    lead = LeadFactory(facility=facility)
    history_record(owner=lead, kind=History.Kind.NOTE, summary="Note.")

    with pytest.raises(ProtectedError):
        lead.delete()

    assert History.objects.filter(lead=lead).exists()


def test_an_archived_person_cannot_be_texted_and_leaves_the_home_list(consented_number, agent, open_all_day):
    lead = consented_number.lead
    person_archive(person=lead, actor=agent)

    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=agent, body="Hi")

    assert refused.value.code == "archived"
    assert lead not in people_search(organization=lead.organization)
    assert lead.history.filter(summary="Record archived.", actor_name="Alex Agent").exists()


def test_deleting_a_user_keeps_their_name_on_the_ledger_history_and_messages(facility, open_all_day):
    user = MembershipFactory(organization=facility.organization, user__first_name="Dana", user__last_name="Reyes").user
    phone = PhoneNumberFactory(lead__facility=facility)
    consent_grant(organization=facility.organization, number=phone.number, source="agent", actor=user, evidence="ok")
    message = message_queue(phone_number=phone, sent_by=user, body="Your unit is ready.")

    get_user_model().objects.filter(pk=user.pk).delete()

    event = ConsentEvent.objects.get(number=phone.number)
    assert event.actor_id is None and event.actor_name == "Dana Reyes"
    assert History.objects.get(lead=phone.lead, kind="text").actor_name == "Dana Reyes"
    message.refresh_from_db()
    assert message.sent_by_id is None and message.actor_name == "Dana Reyes"
    assert consent_status(organization=facility.organization, number=phone.number).actor_name == "Dana Reyes"


def test_the_card_names_a_deleted_agent_as_they_were_named(agent_client, facility):
    user = UserFactory(username="gone", first_name="Sam", last_name="Gone")
    lead = LeadFactory(facility=facility)
    history_record(owner=lead, kind=History.Kind.CALL, summary="Quoted a 5x10.", agent=user)
    user.delete()

    page = agent_client.get(reverse("lead_card", args=[lead.pk])).content.decode()

    assert "Sam Gone" in page


# --- 3. admin writes go through the services ---------------------------------------------------


def _customer_form(customer: Customer, numbers: list[PhoneNumber], **rows) -> dict:
    data = {
        "facility": customer.facility_id,
        "pms_id": customer.pms_id,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "unit": customer.unit,
        "balance_due": str(customer.balance_due),
        "phone_numbers-TOTAL_FORMS": str(len(numbers)),
        "phone_numbers-INITIAL_FORMS": str(len(numbers)),
        "phone_numbers-MIN_NUM_FORMS": "0",
        "phone_numbers-MAX_NUM_FORMS": "1000",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "history-MIN_NUM_FORMS": "0",
        "history-MAX_NUM_FORMS": "0",
    }
    for i, phone in enumerate(numbers):
        data.update(
            {
                f"phone_numbers-{i}-id": str(phone.pk),
                f"phone_numbers-{i}-customer": str(customer.pk),
                f"phone_numbers-{i}-number": str(phone.number),
                f"phone_numbers-{i}-label": phone.label,
                f"phone_numbers-{i}-is_primary": "on" if phone.is_primary else "",
            }
        )
    data.update(rows)
    return data


def test_an_agent_cannot_rewrite_a_pms_number_in_place_or_flip_its_source(agent_client, facility):
    customer = CustomerFactory(facility=facility)
    pms = PhoneNumberFactory(lead=None, customer=customer, number="+15125550160", source=PhoneNumber.Source.PMS)
    history_record(owner=customer, kind=History.Kind.CALL, summary="Called.", phone_number=pms)

    response = agent_client.post(
        admin_url(Customer, "change", customer.pk),
        _customer_form(
            customer,
            [pms],
            **{"phone_numbers-0-number": "+15125550161", "phone_numbers-0-source": "local"},
        ),
    )

    assert response.status_code == 302
    pms.refresh_from_db()
    assert str(pms.number) == "+15125550160"
    assert pms.source == PhoneNumber.Source.PMS
    assert History.objects.get(summary="Called.").phone_number_id == pms.pk


def test_an_agent_cannot_delete_a_pms_number_in_admin(agent_client, facility):
    customer = CustomerFactory(facility=facility)
    pms = PhoneNumberFactory(lead=None, customer=customer, number="+15125550160", source=PhoneNumber.Source.PMS)

    response = agent_client.post(
        admin_url(Customer, "change", customer.pk), _customer_form(customer, [pms], **{"phone_numbers-0-DELETE": "on"})
    )

    assert response.status_code == 200
    assert "property management system" in response.content.decode()
    assert PhoneNumber.objects.filter(pk=pms.pk).exists()


def test_a_number_added_in_admin_is_a_new_local_number(agent_client, facility):
    customer = CustomerFactory(facility=facility)
    pms = PhoneNumberFactory(lead=None, customer=customer, number="+15125550160", source=PhoneNumber.Source.PMS)
    data = _customer_form(customer, [pms])
    data.update(
        {
            "phone_numbers-TOTAL_FORMS": "2",
            "phone_numbers-1-customer": str(customer.pk),
            "phone_numbers-1-number": "+15125550162",
            "phone_numbers-1-label": "home",
            "phone_numbers-1-source": "pms",
        }
    )

    response = agent_client.post(admin_url(Customer, "change", customer.pk), data)

    assert response.status_code == 302
    added = customer.phone_numbers.get(number="+15125550162")
    assert added.source == PhoneNumber.Source.LOCAL
    assert PhoneNumber.objects.get(pk=pms.pk).is_primary


# --- 4. managers create the people they add ----------------------------------------------------


def test_a_managers_membership_form_offers_no_existing_users(manager_client, org):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-12345!x")
    UserFactory(username="drifter")

    response = manager_client.get(admin_url(Membership, "add"))

    form = response.context["adminform"].form
    assert "user" not in form.fields
    page = response.content.decode()
    assert "root" not in page and "drifter" not in page


def test_a_manager_adds_someone_by_creating_their_account_in_their_own_organization(manager_client, org):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-12345!x")

    response = manager_client.post(
        admin_url(Membership, "add"),
        {
            "username": "newagent",
            "first_name": "Nia",
            "last_name": "New",
            "email": "nia@example.com",
            "password": "a-long-pass-phrase-42",
            "role": "agent",
            "user": root.pk,  # a tampered form: an existing user of the install is never taken
        },
    )

    assert response.status_code == 302
    created = Membership.objects.get(user__username="newagent")
    assert created.organization == org
    assert created.user.check_password("a-long-pass-phrase-42")
    assert not Membership.objects.filter(user=root).exists()


def test_a_manager_cannot_reuse_a_taken_username(manager_client, org):
    UserFactory(username="drifter")

    response = manager_client.post(
        admin_url(Membership, "add"),
        {"username": "Drifter", "email": "", "password": "a-long-pass-phrase-42", "role": "manager"},
    )

    assert response.status_code == 200
    assert "username" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(user__username="drifter").exists()


# --- 5 and 6. bad input gets a 400 or a form error naming the field ---------------------------------


def test_a_nul_byte_in_the_home_search_is_a_400_naming_the_field(agent_client, facility):
    response = agent_client.get("/", {"q": "Lee\x00"})

    assert response.status_code == 400
    assert "q: contains a NUL character" in response.content.decode()


def test_a_nul_byte_in_the_panels_send_body_is_a_400_naming_the_field(agent_client, consented_number):
    response = agent_client.post(reverse("text_send", args=[consented_number.pk]), {"body": "Hi\x00there"})

    assert response.status_code == 400
    assert "body: contains a NUL character" in response.content.decode()
    assert not Message.objects.exists()


def test_an_impossible_send_time_in_the_panel_is_a_form_error(agent_client, consented_number, open_all_day):
    response = agent_client.post(
        reverse("text_send", args=[consented_number.pk]), {"body": "Hi", "send_at": "2026-13-45T99:99"}
    )

    assert response.status_code == 200
    assert "That send time is not a date and time." in response.content.decode()
    assert not Message.objects.exists()


def test_deeply_nested_json_is_a_400_naming_the_problem(agent):
    from tests.api.conftest import token_client

    response = token_client(agent).post("/api/v1/leads/", "[" * 50_000, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert "nested deeper than 100 levels" in response.json()["detail"]


def test_a_nul_in_an_api_value_is_a_400_naming_the_field(agent, facility):
    from tests.api.conftest import token_client

    response = token_client(agent).post(
        "/api/v1/leads/", {"facility": facility.pk, "first_name": "Ann\x00"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "first_name"
    assert not Lead.objects.exists()


def test_the_api_refuses_a_send_time_without_a_zone(agent, consented_number, open_all_day):
    from tests.api.conftest import token_client

    response = token_client(agent).post(
        "/api/v1/messages/",
        {"phone_number": consented_number.pk, "body": "Hi", "send_at": "2030-05-01T15:00:00"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "send_at"
    assert "time zone" in response.json()["detail"]
    assert not Message.objects.exists()


def test_a_status_callback_with_an_impossible_segment_count_is_answered_200(client, facility):
    from tests.messaging.twilio_payloads import post_status

    response = post_status(client, "status_delivered", NumSegments="99999999", ErrorCode="9" * 500)

    assert response.status_code == 200


def test_an_inbound_text_with_impossible_segments_and_a_nul_is_stored_cleaned(client, consented_number):
    response = post_inbound(client, "inbound_sms", Body="See you\x00 at 5", NumSegments="99999999")

    assert response.status_code == 200
    message = Message.objects.get(direction="inbound")
    assert message.body == "See you at 5"
    assert message.segments == 24


def test_the_pms_import_reports_a_row_with_a_nul_byte_and_goes_on(facility):
    rows = (
        "facility,pms_id,first_name,last_name,unit,balance_due,phone\n"
        f"{facility.name},P-1,Ann,Lee,A1,0,+15125550170\n"
        f"{facility.name},P-2,Bo\x00b,Ray,A2,0,+15125550171\n"
        f"{facility.name},P-3,Cy,Day,A3,0,+15125550172\n"
    )

    report = import_pms_customers(organization=facility.organization, stream=io.StringIO(rows))

    assert report.created == 2
    assert report.errors == [(3, "first_name contains a NUL character")]
    assert set(Customer.objects.values_list("pms_id", flat=True)) == {"P-1", "P-3"}


def test_a_manager_s_new_account_needs_a_password_the_validators_accept(manager_client, org):
    response = manager_client.post(
        admin_url(Membership, "add"),
        {"username": "weakling", "email": "", "password": "password", "role": "agent"},
    )

    assert response.status_code == 200
    assert "password" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(user__username="weakling").exists()


def test_an_id_past_64_bits_in_an_admin_multiple_choice_is_a_form_error(client):
    from django.contrib.auth.models import Group

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-12345!x")
    client.force_login(root)

    response = client.post(admin_url(Group, "add"), {"name": "Tampered", "permissions": [str(2**64)]})

    assert response.status_code == 200
    assert "permissions" in response.context["adminform"].form.errors
    assert not Group.objects.filter(name="Tampered").exists()
