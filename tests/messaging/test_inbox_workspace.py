"""The inbox's working surface, server side: the views (waiting, stop requests, done, snoozed), done,
snooze and unread, the list's poll, the number a reply goes to, notes that are never texted, presence,
assignment to people only, and another organization's person answering 404 on every action."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.backends import locmem
from messaging.models import Conversation, ConversationNote, Message
from messaging.selectors import inbox, reply_phone_id, unread_summary
from messaging.services import conversation_done, conversation_presence, conversation_snooze
from tests.factories import MembershipFactory, MessageFactory, PhoneNumberFactory, ReplyFactory

pytestmark = pytest.mark.django_db


def _names(org, user, show: str, **kwargs) -> list[str]:
    return [r.person.first_name for r in inbox(organization=org, user=user, show=show, **kwargs)]


def test_the_views_waiting_done_and_snoozed(agent, org, facility):
    waiting = PhoneNumberFactory(lead__facility=facility, lead__first_name="Wanda", number="+15125550131")
    answered = PhoneNumberFactory(lead__facility=facility, lead__first_name="Andy", number="+15125550132")
    ReplyFactory(phone_number=waiting, body="Any 10x10 left?")
    ReplyFactory(phone_number=answered, body="Is the gate open?")
    MessageFactory(phone_number=answered, body="Yes, until 9", status="sent", sent_by=agent)
    MessageFactory(phone_number=waiting, body="Automated reminder", status="sent")  # not an answer
    assert _names(org, agent, "waiting") == ["Wanda"]

    conversation_done(person=answered.lead)
    assert _names(org, agent, "all") == ["Wanda"] and _names(org, agent, "done") == ["Andy"]
    ReplyFactory(phone_number=answered, body="One more thing")  # a reply reopens it
    assert set(_names(org, agent, "all")) == {"Wanda", "Andy"} and _names(org, agent, "done") == []

    now = timezone.now()
    conversation_snooze(person=waiting.lead, until=now + dt.timedelta(hours=3), now=now)
    assert _names(org, agent, "all") == ["Andy"] and _names(org, agent, "snoozed") == ["Wanda"]
    later = now + dt.timedelta(hours=4)  # its time came: back in the list, no sweeper needed
    assert set(_names(org, agent, "all", now=later)) == {"Wanda", "Andy"}
    assert _names(org, agent, "snoozed", now=later) == []


def test_done_snooze_and_unread_through_the_view(agent_client, consented_number):
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="Hello?")
    url = reverse("inbox_state", args=["lead", lead.pk])
    agent_client.post(url, {"action": "done"})
    state = Conversation.objects.get(lead=lead)
    assert state.done_at is not None and not state.unread
    agent_client.post(url, {"action": "unread"})
    state.refresh_from_db()
    assert state.unread and state.done_at is None
    assert unread_summary(organization=lead.organization).count == 1

    response = agent_client.post(url, {"action": "snooze", "until": "2001-01-01T08:00"}, follow=True)
    assert "Choose a time in the future" in response.content.decode()
    until = (timezone.now() + dt.timedelta(days=1)).replace(microsecond=0)
    agent_client.post(url, {"action": "snooze", "until": until.isoformat()})
    state.refresh_from_db()
    assert state.snoozed_until == until and not state.unread
    response = agent_client.post(url, {"action": "snooze", "until": "tomorrow-ish"}, follow=True)
    assert "Choose when the conversation comes back" in response.content.decode()
    agent_client.post(url, {"action": "reopen"})
    state.refresh_from_db()
    assert state.snoozed_until is None and state.done_at is None


def test_the_list_poll_answers_204_until_something_changes(agent_client, consented_number):
    ReplyFactory(phone_number=consented_number, body="First")
    first = agent_client.get(reverse("inbox_list"))
    assert first.status_code == 200
    version = first.content.decode().split("&amp;v=")[1].split('"')[0]
    assert agent_client.get(reverse("inbox_list"), {"v": version}).status_code == 204
    ReplyFactory(phone_number=consented_number, body="Second, still there?")
    changed = agent_client.get(reverse("inbox_list"), {"v": version})
    assert changed.status_code == 200 and "Second, still there?" in changed.content.decode()


def test_the_opened_conversation_replies_on_the_number_that_wrote(agent_client, consented_number):
    lead = consented_number.lead
    home = PhoneNumberFactory(lead=lead, number="+15125550181", is_primary=False, label="home")
    assert reply_phone_id(person=lead) == consented_number.pk  # nobody wrote: the primary number
    ReplyFactory(phone_number=home, body="use this one please")
    assert reply_phone_id(person=lead) == home.pk
    page = agent_client.get(reverse("inbox"), {"open": f"lead-{lead.pk}"}).content.decode()
    assert reverse("text_panel", args=[home.pk]) in page


def test_a_note_is_kept_shown_in_the_thread_and_never_texted(agent_client, consented_number):
    lead = consented_number.lead
    locmem.outbox.clear()
    url = reverse("inbox_note_add", args=["lead", lead.pk])
    agent_client.post(url, {"body": "Prefers texts after 5pm"})
    assert agent_client.post(url, {"body": "   "}, follow=True).content.decode().count("Write the note first") == 1
    note = ConversationNote.objects.get(lead=lead)
    assert note.author_name and note.body == "Prefers texts after 5pm"
    assert not Message.objects.exists() and locmem.outbox == []
    panel = agent_client.get(reverse("text_panel", args=[consented_number.pk])).content.decode()
    assert "event-internal" in panel and "Prefers texts after 5pm" in panel and "not texted" in panel


def test_presence_names_the_other_agents_and_who_is_typing(agent, org, consented_number):
    lead = consented_number.lead
    robin = MembershipFactory(organization=org, user__username="robin", user__first_name="Robin").user
    assert conversation_presence(person=lead, user=agent, typing=False, now=1000.0) == []
    others = conversation_presence(person=lead, user=robin, typing=True, now=1001.0)
    assert len(others) == 1 and not others[0].typing
    seen = conversation_presence(person=lead, user=agent, typing=False, now=1002.0)
    assert len(seen) == 1 and seen[0].typing and "Robin" in seen[0].name
    assert conversation_presence(person=lead, user=agent, typing=False, now=1100.0) == []  # Robin left


def test_assignment_offers_people_only_never_an_api_keys_service_user(agent_client, agent, org, consented_number):
    from integrations.services import api_key_create

    key, _ = api_key_create(organization=org, name="PMS sync")
    lead = consented_number.lead
    ReplyFactory(phone_number=consented_number, body="Hi")
    page = agent_client.get(reverse("inbox"), {"open": f"lead-{lead.pk}"}).content.decode()
    assert "Me (agent1)" in page
    assert f'value="{key.user.pk}"' not in page and key.user.get_username() not in page


def test_another_organizations_person_is_404_on_every_inbox_action(agent_client, other_org):
    theirs = PhoneNumberFactory(lead__facility__organization=other_org, number="+15125550999")
    ReplyFactory(phone_number=theirs, body="Rival secret")
    pk = theirs.lead.pk
    assert agent_client.get(reverse("inbox"), {"open": f"lead-{pk}"}).status_code == 404
    for name, data in (
        ("inbox_state", {"action": "done"}),
        ("inbox_note_add", {"body": "x"}),
        ("inbox_presence", {"typing": "1"}),
        ("inbox_assign", {"assigned_to": ""}),
    ):
        assert agent_client.post(reverse(name, args=["lead", pk]), data).status_code == 404, name
    assert Conversation.objects.get(lead=theirs.lead).done_at is None
    assert not ConversationNote.objects.exists()
