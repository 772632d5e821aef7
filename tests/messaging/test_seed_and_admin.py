"""Demo templates from seed_demo; the message log and unsubscribe links are read-only in admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from messaging.models import Message, MessageTemplate
from messaging.segments import measure
from messaging.services import template_preview
from tests.factories import MessageFactory, MessageTemplateFactory, PhoneNumberFactory


def test_seed_demo_adds_valid_templates_per_category_once_including_a_ucs2_one(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    first = list(MessageTemplate.objects.values_list("name", "body"))
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert list(MessageTemplate.objects.values_list("name", "body")) == first

    templates = MessageTemplate.objects.all()
    assert {t.category for t in templates} == {"general", "collections", "lead_follow_up"}
    assert all(templates.filter(category=c).count() >= 2 for c in ("general", "collections", "lead_follow_up"))
    assert {measure(t.body).encoding for t in templates} == {"GSM-7", "UCS-2"}
    for template in templates:  # every merge field is a known one, and the filled-in text fits
        assert template_preview(organization=template.organization, body=template.body).measure.segments <= 3


def test_the_message_log_is_read_only_and_scoped(manager_client, org, other_org, facility):
    mine = MessageFactory(phone_number=PhoneNumberFactory(lead__facility=facility), body="Ours")
    theirs = MessageFactory(phone_number=PhoneNumberFactory(lead__facility__organization=other_org), body="Theirs")

    listing = manager_client.get("/admin/messaging/message/")
    assert listing.status_code == 200
    assert str(mine.to_number) in listing.content.decode() or "Ours" in listing.content.decode()
    assert manager_client.get(f"/admin/messaging/message/{theirs.pk}/change/").status_code == 404
    page = manager_client.get(f"/admin/messaging/message/{mine.pk}/change/")
    assert page.status_code == 200
    assert 'name="body"' not in page.content.decode()  # shown, not editable
    assert manager_client.get("/admin/messaging/message/add/").status_code == 403
    response = manager_client.post(f"/admin/messaging/message/{mine.pk}/change/", {"body": "Edited"})
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.body == "Ours"


def test_unsubscribe_links_cannot_be_edited_in_admin(manager_client, consented_number, agent, open_all_day):
    from messaging.models import UnsubscribeLink
    from messaging.services import message_queue

    message_queue(phone_number=consented_number, sent_by=agent, body="Hi")
    link = UnsubscribeLink.objects.get()
    assert manager_client.get("/admin/messaging/unsubscribelink/").status_code == 200
    assert manager_client.get("/admin/messaging/unsubscribelink/add/").status_code == 403
    response = manager_client.post(f"/admin/messaging/unsubscribelink/{link.pk}/change/", {"token": "mine"})
    assert response.status_code == 403


@pytest.fixture
def queued_sending_row(consented_number, open_all_day):
    """A text whose worker died after claiming it ten minutes ago."""
    message = MessageFactory(phone_number=consented_number, status=Message.Status.SENDING)
    Message.objects.filter(pk=message.pk).update(sending_at=timezone.now() - timedelta(minutes=10))
    return message


def test_managers_can_look_up_stuck_texts_from_the_log(manager_client, twilio_server, queued_sending_row):
    response = manager_client.post(
        "/admin/messaging/message/",
        {"action": "reconcile", "_selected_action": [queued_sending_row.pk]},
        follow=True,
    )
    assert response.status_code == 200
    queued_sending_row.refresh_from_db()
    assert queued_sending_row.status in (Message.Status.QUEUED, Message.Status.SENT)


def test_agents_do_not_get_the_reconcile_action(agent_client, org):
    page = agent_client.get("/admin/messaging/message/").content.decode()
    assert "reconcile" not in page


def test_templates_list_shows_each_templates_length(manager_client, org):
    MessageTemplateFactory(organization=org, name="Short one", body="Hi {{ first_name }}")
    page = manager_client.get("/admin/messaging/messagetemplate/").content.decode()
    assert "GSM-7 · 1 seg" in page
