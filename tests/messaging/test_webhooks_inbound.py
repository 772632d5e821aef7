"""Inbound texts: stored once, filed in the right organization, noted on every record, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from core.errors import ServiceError
from interactions.models import ConsentEvent, History, PhoneNumber
from interactions.services import consent_grant, consent_revoke, consent_status
from messaging.backends import locmem
from messaging.models import Message
from messaging.selectors import inbound_flagged, inbound_unmatched
from messaging.selectors.conversations import THREAD_LIMIT, thread_messages, thread_version
from messaging.services import message_queue
from messaging.tasks import send_message
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    LeadFactory,
    MessageFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    UserFactory,
)

from .twilio_payloads import payload, post_inbound

pytestmark = pytest.mark.django_db

PERSON = "+15125550142"  # "From" of the stored inbound payloads (consented_number's number)
SERVICE_SID = payload("inbound_sms_messaging_service")["MessagingServiceSid"]
NOON_IN_AUSTIN = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@pytest.fixture
def customer_number(facility, consented_number):
    """The same number, also saved on a customer of the same organization."""
    return PhoneNumberFactory(lead=None, customer=CustomerFactory(facility=facility), number=PERSON)


def fresh(phone: PhoneNumber) -> PhoneNumber:
    # Reloaded: a factory-made Organization still holds its quiet-hour defaults as "08:00" strings.
    return PhoneNumber.objects.select_related("organization").get(pk=phone.pk)


def inbound_messages():
    return Message.objects.filter(direction=Message.Direction.INBOUND)


def test_inbound_text_is_stored_as_received_with_both_numbers(client, consented_number):
    response = post_inbound(client, "inbound_sms")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode() == EMPTY_TWIML
    message = inbound_messages().get()
    assert message.organization == consented_number.organization
    assert message.status == Message.Status.RECEIVED
    assert message.provider_sid == payload("inbound_sms")["MessageSid"]
    assert message.from_number == PERSON
    assert message.to_number == "+15125550199"
    assert message.body == "Is my unit still available Friday?"
    assert message.received_at is not None
    assert not message.flagged_opt_out_request


def test_inbound_text_is_noted_on_every_record_holding_the_number(client, consented_number, customer_number):
    post_inbound(client, "inbound_sms")

    for record in (consented_number.lead, customer_number.customer):
        entry = record.history.get()
        assert entry.kind == History.Kind.TEXT
        assert entry.phone_number.number == PERSON
        assert "Is my unit still available Friday?" in entry.summary
    assert [m.body for m in inbound_unmatched(consented_number.organization)] == []


def test_reply_is_linked_to_the_record_last_texted_from(client, consented_number, customer_number):
    MessageFactory(phone_number=customer_number, status=Message.Status.DELIVERED, provider_sid="SM" + "1" * 32)

    post_inbound(client, "inbound_sms")

    message = inbound_messages().get()
    assert message.customer == customer_number.customer
    assert message.lead is None
    assert message.phone_number == customer_number


def test_reply_from_a_number_only_one_record_holds_is_linked_to_it(client, consented_number):
    post_inbound(client, "inbound_sms")

    message = inbound_messages().get()
    assert (message.lead, message.phone_number) == (consented_number.lead, consented_number)
    assert message.facility == consented_number.lead.facility


def test_repeated_inbound_webhook_stores_nothing_twice(client, consented_number, customer_number):
    first = post_inbound(client, "inbound_stop")
    events = ConsentEvent.objects.count()
    second = post_inbound(client, "inbound_stop")

    assert (first.status_code, second.status_code) == (200, 200)
    assert inbound_messages().count() == 1
    assert ConsentEvent.objects.count() == events
    assert History.objects.count() == 2  # one per record, from the first delivery only


def test_repeated_help_webhook_answers_again_but_stores_once(client, consented_number):
    first = post_inbound(client, "inbound_help")
    second = post_inbound(client, "inbound_help")

    assert first.content == second.content
    assert consented_number.organization.help_reply in second.content.decode()
    assert inbound_messages().count() == 1


def test_text_from_an_unknown_sender_to_a_facility_number_is_kept_as_unmatched(client, consented_number):
    response = post_inbound(client, "inbound_sms", From="+15125550111", Body="Who is this?")

    assert response.status_code == 200
    message = inbound_messages().get()
    assert message.organization == consented_number.organization
    assert (message.lead, message.customer, message.phone_number) == (None, None, None)
    assert list(inbound_unmatched(consented_number.organization)) == [message]
    assert History.objects.count() == 0


def test_unmatched_text_leaves_the_list_once_its_number_is_saved_on_a_record(client, facility):
    post_inbound(client, "inbound_sms", From="+15125550111")
    assert inbound_unmatched(facility.organization).count() == 1

    PhoneNumberFactory(lead=LeadFactory(facility=facility), number="+15125550111")
    assert inbound_unmatched(facility.organization).count() == 0


def test_inbound_to_a_number_no_facility_owns_is_not_stored_and_answers_empty_twiml(client, consented_number, caplog):
    response = post_inbound(client, "inbound_sms", To="+15125550188")

    assert response.status_code == 200
    assert response.content.decode() == EMPTY_TWIML
    assert not inbound_messages().exists()
    assert "no organization owns the number" in caplog.text


def test_inbound_without_message_sid_is_a_bad_request(client, consented_number):
    response = post_inbound(client, "inbound_sms", MessageSid=None, SmsMessageSid=None, SmsSid=None)

    assert response.status_code == 400
    assert not inbound_messages().exists()


def test_inbound_is_filed_in_the_organization_of_the_receiving_facility_only(client, consented_number):
    other = FacilityFactory(organization=OrganizationFactory(slug="rival"), sms_sender_number="+15125550198")
    other_holder = PhoneNumberFactory(lead=LeadFactory(facility=other), number=PERSON)

    post_inbound(client, "inbound_stop")

    message = inbound_messages().get()
    assert message.organization == consented_number.organization
    assert not consent_status(organization=consented_number.organization, number=PERSON).is_granted
    # Consent is per organization: the rival's record is untouched and gets no history.
    assert consent_status(organization=other.organization, number=PERSON).status == "none"
    assert not other_holder.lead.history.exists()


def test_inbound_through_an_organization_own_messaging_service_is_filed_there(client, consented_number):
    org = consented_number.organization
    org.twilio_messaging_service_sid = SERVICE_SID
    org.save()

    post_inbound(client, "inbound_sms_messaging_service")

    message = inbound_messages().get()
    assert message.organization == org
    assert message.to_number == "+15125550177"
    assert message.lead == consented_number.lead


def test_inbound_through_the_shared_messaging_service_goes_to_the_organization_that_last_texted(
    client, consented_number, settings
):
    settings.TWILIO_MESSAGING_SERVICE_SID = SERVICE_SID
    rival_holder = PhoneNumberFactory(lead=LeadFactory(facility__organization__slug="rival"), number=PERSON)
    MessageFactory(phone_number=consented_number, from_number="", status=Message.Status.DELIVERED)
    later = MessageFactory(phone_number=rival_holder, from_number="", status=Message.Status.DELIVERED)
    later.created_at = NOON_IN_AUSTIN + timedelta(days=3650)
    later.save()

    post_inbound(client, "inbound_sms_messaging_service")

    message = inbound_messages().get()
    assert message.organization == rival_holder.organization
    assert message.lead == rival_holder.lead


def test_inbound_through_the_shared_messaging_service_from_a_number_one_organization_holds(
    client, consented_number, settings
):
    settings.TWILIO_MESSAGING_SERVICE_SID = SERVICE_SID

    post_inbound(client, "inbound_sms_messaging_service")

    assert inbound_messages().get().organization == consented_number.organization


def test_inbound_through_an_unknown_messaging_service_is_not_stored(client, consented_number, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "9" * 32

    response = post_inbound(client, "inbound_sms_messaging_service")

    assert response.status_code == 200
    assert not inbound_messages().exists()


# --- keywords, end to end through the webhook -------------------------------------------------


def test_stop_revokes_consent_as_the_person_own_opt_out(client, consented_number, customer_number):
    response = post_inbound(client, "inbound_stop")

    assert response.content.decode() == EMPTY_TWIML  # Twilio's opt-out handling sends the confirmation
    state = consent_status(organization=consented_number.organization, number=PERSON)
    assert state.status == "revoked"
    assert state.source == ConsentEvent.Source.SMS_KEYWORD
    assert state.person_opted_out
    assert "opted out" in customer_number.customer.history.get().summary
    assert not inbound_messages().get().flagged_opt_out_request


def test_stop_stops_every_later_text_from_every_record_until_the_person_texts_start(
    client, consented_number, customer_number, agent
):
    post_inbound(client, "inbound_stop")

    for phone in (consented_number, customer_number):
        with pytest.raises(ServiceError) as refused:
            message_queue(phone_number=fresh(phone), sent_by=agent, body="Your gate code is 4411", now=NOON_IN_AUSTIN)
        assert refused.value.code == "opted_out"
        assert "START" in refused.value.message
    with pytest.raises(ServiceError) as agent_grant:
        consent_grant(organization=consented_number.organization, number=PERSON, source="agent", evidence="on call")
    assert agent_grant.value.code == "opted_out"

    response = post_inbound(client, "inbound_start")

    assert response.content.decode() == EMPTY_TWIML
    state = consent_status(organization=consented_number.organization, number=PERSON)
    assert state.is_granted and state.source == ConsentEvent.Source.SMS_KEYWORD
    assert not state.person_opted_out
    for phone in (consented_number, customer_number):
        sent = message_queue(phone_number=fresh(phone), sent_by=agent, body="Welcome back", now=NOON_IN_AUSTIN)
        assert sent.status == Message.Status.QUEUED


def test_text_queued_before_a_stop_is_not_sent_and_fails_as_opted_out(client, consented_number, agent):
    locmem.outbox.clear()
    queued = message_queue(phone_number=fresh(consented_number), sent_by=agent, body="Rent is due", now=NOON_IN_AUSTIN)
    assert queued.status == Message.Status.QUEUED

    post_inbound(client, "inbound_stop")
    send_message.apply(args=[queued.pk])

    queued.refresh_from_db()
    assert queued.status == Message.Status.FAILED
    assert queued.error_code == "opted_out"
    assert locmem.outbox == []


def test_help_replies_with_the_organization_help_text(client, consented_number):
    org = consented_number.organization
    org.help_text = "Lakeside Storage: call (512) 555-0100. Reply STOP to opt out."
    org.save()

    response = post_inbound(client, "inbound_help")

    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        "Lakeside Storage: call (512) 555-0100. Reply STOP to opt out.</Message></Response>"
    )
    assert consent_status(organization=org, number=PERSON).is_granted


def test_help_without_an_organization_help_text_replies_with_the_default(client, consented_number):
    response = post_inbound(client, "inbound_help", Body=" info ")

    assert "Lakeside Storage: texts about your storage. Reply STOP to opt out" in response.content.decode()


def test_twilio_advanced_opt_out_type_is_honoured_for_a_custom_keyword(client, consented_number):
    consented_number.organization.twilio_messaging_service_sid = SERVICE_SID
    consented_number.organization.save()

    post_inbound(client, "inbound_stop_advanced_opt_out")

    assert consent_status(organization=consented_number.organization, number=PERSON).person_opted_out


def test_start_from_a_number_without_any_permission_grants_it(client, facility):
    post_inbound(client, "inbound_start", From="+15125550111")

    state = consent_status(organization=facility.organization, number="+15125550111")
    assert state.is_granted and state.source == ConsentEvent.Source.SMS_KEYWORD


def test_yes_in_a_conversation_that_has_permission_records_no_consent_event(client, consented_number):
    events = ConsentEvent.objects.count()

    post_inbound(client, "inbound_start", Body="Yes")

    assert ConsentEvent.objects.count() == events
    assert consented_number.lead.history.get().summary.endswith("“Yes”")


def test_plain_words_request_is_flagged_not_revoked(client, consented_number):
    post_inbound(client, "inbound_plain_words")

    message = inbound_messages().get()
    assert message.flagged_opt_out_request
    assert consent_status(organization=consented_number.organization, number=PERSON).is_granted
    assert list(inbound_flagged(consented_number.organization)) == [message]
    assert "may be asking not to be texted" in consented_number.lead.history.get().summary


def test_flagged_request_leaves_the_list_once_an_agent_records_the_opt_out(client, consented_number, agent):
    post_inbound(client, "inbound_plain_words")

    consent_revoke(
        organization=consented_number.organization, number=PERSON, source="agent", actor=agent, evidence="asked by text"
    )

    assert list(inbound_flagged(consented_number.organization)) == []
    assert inbound_messages().get().flagged_opt_out_request  # the text itself stays marked


# --- selectors ---------------------------------------------------------------------------


def test_a_thread_lists_texts_both_ways_with_the_number_whichever_record_they_came_from(
    client, consented_number, customer_number
):
    sender = UserFactory(username="dana", first_name="Dana")
    out = MessageFactory(phone_number=customer_number, sent_by=sender, status=Message.Status.DELIVERED)
    Message.objects.filter(pk=out.pk).update(created_at=NOON_IN_AUSTIN)
    MessageFactory(phone_number=PhoneNumberFactory(lead__facility=consented_number.lead.facility))  # another number
    PhoneNumberFactory(lead=LeadFactory(facility__organization__slug="rival"), number=PERSON)
    post_inbound(client, "inbound_sms")
    post_inbound(client, "inbound_stop")

    conversation = thread_messages(person=consented_number.lead, numbers=[consented_number])[::-1]  # oldest first

    assert [(m.direction, m.body) for m in conversation] == [
        ("outbound", "Hello"),
        ("inbound", "Is my unit still available Friday?"),
        ("inbound", "STOP"),
        # The one confirmation of the opt-out (sent, or kept as not sent when the hours were closed).
        ("outbound", "Lakeside Storage: You're unsubscribed and won't get more texts. Reply START to resubscribe."),
    ]
    assert conversation[0].sent_by.first_name == "Dana"


def test_a_thread_loads_senders_in_one_query(consented_number, django_assert_num_queries):
    for _ in range(3):
        MessageFactory(phone_number=consented_number, sent_by=UserFactory())

    with django_assert_num_queries(1):
        texts = thread_messages(person=consented_number.lead, numbers=[consented_number])
        names = [m.sent_by.username for m in texts]
    assert len(names) == 3


def test_a_thread_without_numbers_shows_the_texts_on_the_record(consented_number):
    on_record = MessageFactory(phone_number=consented_number)
    MessageFactory(phone_number=PhoneNumberFactory(lead__facility=consented_number.lead.facility))  # someone else

    assert thread_messages(person=consented_number.lead, numbers=[]) == [on_record]


def test_inbound_lists_never_show_another_organization_texts(client, consented_number, other_org):
    post_inbound(client, "inbound_plain_words")
    post_inbound(client, "inbound_sms", From="+15125550111", MessageSid="SM" + "2" * 32)

    assert inbound_flagged(consented_number.organization).count() == 1
    assert inbound_unmatched(consented_number.organization).count() == 1
    assert inbound_flagged(other_org).count() == 0
    assert inbound_unmatched(other_org).count() == 0
    theirs = PhoneNumberFactory(lead__facility__organization=other_org, number=PERSON)
    assert thread_messages(person=theirs.lead, numbers=[theirs]) == []


def test_text_from_a_short_code_is_kept_as_unmatched_and_its_keyword_changes_nothing(client, consented_number):
    response = post_inbound(client, "inbound_stop", From="72345")

    assert response.status_code == 200
    message = inbound_messages().get()
    assert str(message.from_number) == "72345"
    assert list(inbound_unmatched(consented_number.organization)) == [message]
    assert consent_status(organization=consented_number.organization, number=PERSON).is_granted


def test_only_a_superuser_sets_where_a_messaging_service_replies_are_filed(org, manager_client):
    url = reverse("admin:interactions_organization_change", args=[org.pk])
    superuser = UserFactory(username="root", is_superuser=True)
    root_client = Client()
    root_client.force_login(superuser)

    assert 'name="twilio_messaging_service_sid"' not in manager_client.get(url).content.decode()
    assert 'name="twilio_messaging_service_sid"' in root_client.get(url).content.decode()


@pytest.mark.parametrize("texts", [3, 120])
def test_the_latest_conversation_is_one_query_whatever_its_length_on_either_database(
    consented_number, texts, django_assert_num_queries
):
    """The card and the panel read the latest texts in one query, on SQLite (``make run``) and PostgreSQL alike."""
    for n in range(texts):
        MessageFactory(phone_number=consented_number, body=f"out {n}", sent_by=UserFactory())
        MessageFactory(
            phone_number=consented_number,
            direction=Message.Direction.INBOUND,
            from_number=consented_number.number,
            to_number="+15125550100",
            status=Message.Status.RECEIVED,
            body=f"in {n}",
        )

    person, numbers = consented_number.lead, [consented_number]
    with django_assert_num_queries(1):
        shown = thread_messages(person=person, numbers=numbers)
        names = {m.sent_by.username for m in shown if m.sent_by}
    assert len(shown) == min(2 * texts, THREAD_LIMIT)
    assert shown[0].body == f"in {texts - 1}" and len(names) > 0
    # the texts, the numbers' consent, the latest history entry, the latest note for the team
    with django_assert_num_queries(4):
        thread_version(person=person, numbers=numbers)
