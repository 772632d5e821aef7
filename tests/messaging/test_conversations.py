"""A person's conversation: flagged requests that block sending, unread state, the inbox and its search."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.errors import ServiceError
from interactions.models import History
from interactions.services import consent_revoke
from messaging.models import Message
from messaging.selectors import inbox, unread_summary
from messaging.services import conversation_assign, conversation_mark_read, message_queue, reply_flag_dismiss
from tests.factories import CustomerFactory, LeadFactory, MessageFactory, PhoneNumberFactory, ReplyFactory

pytestmark = pytest.mark.django_db


def test_a_text_is_refused_while_a_flagged_request_from_that_number_waits(consented_number, agent, open_all_day):
    flagged = ReplyFactory(phone_number=consented_number, body="please stop texting me", flagged=True)
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=agent, body="Hello again")
    assert refused.value.code == "open_request"
    assert "please stop texting me" in refused.value.message

    reply_flag_dismiss(reply=flagged, user=agent, note="Meant our newsletter, asked on the phone")
    assert message_queue(phone_number=consented_number, sent_by=agent, body="Hello again").status == "queued"
    note = History.objects.get(lead=consented_number.lead, kind=History.Kind.NOTE)
    assert note.summary.startswith("Not a request to stop texting") and "newsletter" in note.summary


def test_marking_a_reply_not_a_request_needs_a_note(consented_number, agent):
    flagged = ReplyFactory(phone_number=consented_number, body="stop it", flagged=True)
    with pytest.raises(ServiceError) as refused:
        reply_flag_dismiss(reply=flagged, user=agent, note="  ")
    assert refused.value.field == "note"
    flagged.refresh_from_db()
    assert flagged.flag_dismissed_at is None


def test_sending_to_another_number_asks_to_confirm_and_then_sends(agent_client, consented_number, open_all_day):
    from interactions.services import consent_grant

    home = PhoneNumberFactory(lead=consented_number.lead, number="+15125550181", is_primary=False)
    consent_grant(organization=home.organization, number=home.number, source="web_form", evidence="form")
    ReplyFactory(phone_number=consented_number, body="please stop texting me", flagged=True)
    url = reverse("text_send", args=[home.pk])
    asked = agent_client.post(url, {"body": "Unit ready"}, HTTP_HX_REQUEST="true")
    assert "Send to this number anyway?" in asked.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()
    agent_client.post(url, {"body": "Unit ready", "confirm_other": "1"}, HTTP_HX_REQUEST="true")
    assert Message.objects.get(direction="outbound").to_number == home.number


def test_an_opted_out_lead_is_not_enrolled_in_the_default_follow_up(org, facility):
    from interactions.services import NewNumber, lead_create
    from workflows.models import Enrollment, Workflow

    Workflow.objects.create(
        organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Default", is_default=True, active=True
    )
    consent_revoke(organization=org, number="+15125550166", source="sms_keyword")
    lead = lead_create(
        organization=org, facility=facility, first_name="Sam", last_name="Stop", numbers=[NewNumber("+15125550166")]
    )
    assert not Enrollment.objects.filter(lead=lead).exists()


def test_unread_is_cleared_by_reading_the_thread_not_by_opening_the_card(agent_client, agent, consented_number):
    ReplyFactory(phone_number=consented_number, body="Is it free on Friday?")
    assert unread_summary(organization=consented_number.organization).count == 1
    agent_client.get(f"/leads/{consented_number.lead.pk}/")
    assert unread_summary(organization=consented_number.organization).count == 1
    agent_client.get(reverse("text_panel", args=[consented_number.pk]))
    assert unread_summary(organization=consented_number.organization).count == 0


def test_the_unread_count_answers_204_while_nothing_changed(agent_client, consented_number):
    ReplyFactory(phone_number=consented_number, body="Hello?")
    first = agent_client.get(reverse("inbox_unread"))
    version = unread_summary(organization=consented_number.organization).version
    assert first.status_code == 200 and 'data-unread="1"' in first.content.decode()
    assert agent_client.get(reverse("inbox_unread"), {"v": version}).status_code == 204
    ReplyFactory(phone_number=consented_number, body="Anyone there?")
    arrived = agent_client.get(reverse("inbox_unread"), {"v": version}).content.decode()
    assert "New reply from" in arrived and "Anyone there?" in arrived


def test_the_inbox_puts_unread_first_filters_by_assignment_and_searches_texts(agent, org, facility):
    quiet = PhoneNumberFactory(lead=LeadFactory(facility=facility, first_name="Quiet"), number="+15125550170")
    MessageFactory(phone_number=quiet, body="Your quote", status="delivered")
    waiting = PhoneNumberFactory(
        lead=None, customer=CustomerFactory(facility=facility, first_name="Wendy"), number="+15125550171"
    )
    ReplyFactory(phone_number=waiting, body="Do you have climate controlled units?")
    MessageFactory(phone_number=quiet, body="A later note", status="delivered")

    rows = inbox(organization=org, user=agent)
    assert [r.person.first_name for r in rows] == ["Wendy", "Quiet"] and rows[0].unread

    conversation_assign(person=quiet.lead, assignee_id=agent.pk, by=agent)
    assert [r.person.first_name for r in inbox(organization=org, user=agent, show="mine")] == ["Quiet"]
    assert [r.person.first_name for r in inbox(organization=org, user=agent, show="unassigned")] == ["Wendy"]
    assert [r.person.first_name for r in inbox(organization=org, user=agent, query="climate")] == ["Wendy"]
    assert [r.person.first_name for r in inbox(organization=org, user=agent, query="0170")] == ["Quiet"]

    conversation_mark_read(person=waiting.customer, user=agent)
    assert not inbox(organization=org, user=agent, query="Wendy")[0].unread


def test_a_conversation_is_only_assigned_within_the_organization(agent, consented_number, other_org):
    from tests.factories import MembershipFactory

    stranger = MembershipFactory(organization=other_org).user
    with pytest.raises(ServiceError):
        conversation_assign(person=consented_number.lead, assignee_id=stranger.pk, by=agent)


def test_an_agents_answer_after_a_reply_counts_as_read_but_an_automated_text_does_not(agent, consented_number):
    ReplyFactory(phone_number=consented_number, body="Is it free on Friday?")
    MessageFactory(phone_number=consented_number, body="Automated reminder", status="sent")
    assert unread_summary(organization=consented_number.organization).count == 1
    MessageFactory(phone_number=consented_number, body="Yes it is", status="sent", sent_by=agent)
    assert unread_summary(organization=consented_number.organization).count == 0


def test_the_thread_labels_each_text_with_its_number_formatting_each_number_once(consented_number, monkeypatch):
    from interactions.models import ConsentEvent
    from messaging.selectors import conversations
    from messaging.selectors.conversations import person_thread

    lead = consented_number.lead
    home = PhoneNumberFactory(lead=lead, number="+15125550181", is_primary=False, label="home")
    for i in range(6):
        MessageFactory(phone_number=consented_number, body=f"To mobile {i}")
        ReplyFactory(phone_number=home, body=f"From home {i}")
    # a text to the person's number written before it was on the record, under another owner
    MessageFactory(phone_number=consented_number, lead=lead, to_number="+15125550177", body="To an old number")
    calls = []
    real = conversations._number_label
    monkeypatch.setattr(conversations, "_number_label", lambda *a: calls.append(a) or real(*a))

    numbers = [consented_number, home]
    thread = person_thread(person=lead, numbers=numbers)
    labels = {item.message.body: item.number_label for item in thread if item.message}
    assert labels["To mobile 5"] == f"{consented_number.national} · {consented_number.get_label_display()}"
    assert labels["From home 0"] == "(512) 555-0181 · Home"
    assert labels["To an old number"] == "(512) 555-0177"
    events = ConsentEvent.objects.filter(organization=lead.organization, number__in=[n.number for n in numbers])
    assert len(calls) == 3 + events.count()  # once per distinct number of the 13 texts, once per ledger event


def test_the_thread_reads_its_texts_numbers_as_stored_parsing_only_what_it_shows(consented_number, monkeypatch):
    """Two numbers a text, 60 texts: loading them as numbers parsed 120 per panel. The thread reads
    the stored E.164 text; a number is parsed only off the record (for its label) or on a flagged
    reply (its opt-out button names it)."""
    from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

    from interactions.models import ConsentEvent
    from messaging.selectors.conversations import person_thread, thread_messages

    lead = consented_number.lead
    for i in range(5):
        MessageFactory(phone_number=consented_number, body=f"To mobile {i}")
        ReplyFactory(phone_number=consented_number, body=f"Reply {i}")
    flagged = ReplyFactory(phone_number=consented_number, body="stop texting me", flagged=True)
    MessageFactory(phone_number=consented_number, lead=lead, to_number="+15125550177", body="To an old number")
    parsed = []
    real = ParsedNumber.from_string.__func__
    monkeypatch.setattr(
        ParsedNumber, "from_string", classmethod(lambda cls, *a, **k: parsed.append(a) or real(cls, *a, **k))
    )

    texts = thread_messages(person=lead, numbers=[consented_number])
    assert len(parsed) == 1  # the flagged reply's number
    parsed.clear()
    thread = person_thread(person=lead, numbers=[consented_number], messages=texts)
    events = ConsentEvent.objects.filter(organization=lead.organization, number=consented_number.number).count()
    assert len(parsed) == 1 + events  # the number off the record (its label); the ledger's rows, as before
    by_body = {item.message.body: item for item in thread if item.message}
    assert by_body["To an old number"].number_label == "(512) 555-0177"
    assert by_body["Reply 3"].number_label == f"{consented_number.national} · {consented_number.get_label_display()}"
    assert by_body["stop texting me"].message.from_number == flagged.from_number
    assert by_body["To mobile 0"].message.to_raw == consented_number.e164


def test_an_api_keys_service_user_is_never_offered_nor_assigned_a_conversation(
    agent, agent_client, consented_number, org
):
    from integrations.services import api_key_create

    api_key, _ = api_key_create(organization=org, name="PMS sync")
    MessageFactory(phone_number=consented_number, body="Hello")

    # The opened conversation holds the assignment.
    page = agent_client.get(reverse("inbox"), {"open": f"lead-{consented_number.lead.pk}"}).content.decode()
    assert f'value="{agent.pk}"' in page
    assert f'value="{api_key.user_id}"' not in page
    with pytest.raises(ServiceError):
        conversation_assign(person=consented_number.lead, assignee_id=api_key.user_id, by=agent)


def test_the_thread_is_the_newest_texts_by_owner_or_by_number_whatever_the_plan(org, facility):
    """Each way a text belongs to the person (their record; to or from one of their numbers) is read
    on its own on PostgreSQL: together they are still the newest texts of the person, each once."""
    import datetime

    from django.utils import timezone

    from messaging.selectors.conversations import THREAD_LIMIT, person_numbers, thread_messages

    lead = LeadFactory(organization=org, facility=facility)
    home = PhoneNumberFactory(organization=org, lead=lead)
    work = PhoneNumberFactory(organization=org, lead=lead, is_primary=False)
    someone = PhoneNumberFactory(organization=org)
    now = timezone.now()
    made = []
    for i in range(THREAD_LIMIT + 30):
        kind = i % 4
        if kind == 0:  # the record's, to their home number
            text = MessageFactory(phone_number=home)
        elif kind == 1:  # a reply from their work number
            text = ReplyFactory(phone_number=work)
        elif kind == 2:  # to their work number, filed under no record (sent before the number was theirs)
            text = MessageFactory(phone_number=work, lead=None)
        else:  # someone else's
            text = MessageFactory(phone_number=someone)
        Message.objects.filter(pk=text.pk).update(created_at=now - datetime.timedelta(minutes=i % 45, seconds=i))
        made.append(text.pk)
    expected = list(
        Message.objects.filter(pk__in=made)
        .exclude(phone_number=someone)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)[:THREAD_LIMIT]
    )

    texts = thread_messages(person=lead, numbers=person_numbers(person=lead))

    assert [t.pk for t in texts] == expected
