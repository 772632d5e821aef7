"""A text is never scheduled twice: the same words to the same person and number at the same time are
refused (``duplicate_schedule``), whoever asks: the panel, the API, or an agent repeating a workflow's
automatic text (issue 27: "Schedule for …" clicked twice left three texts queued for 8 AM)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import ServiceError
from messaging.models import Message
from messaging.services import message_cancel, message_queue
from tests.factories import PhoneNumberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def at():
    return (timezone.now() + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)


def test_a_second_identical_schedule_is_refused_and_names_the_first(consented_number, agent, open_all_day, at):
    first = message_queue(phone_number=consented_number, sent_by=agent, body="See you at 8.", send_at=at)
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=agent, body="See you at 8.", send_at=at)
    assert refused.value.code == "duplicate_schedule" and refused.value.status == 409
    assert refused.value.extra["message_id"] == first.pk
    assert "already scheduled for" in refused.value.message
    assert Message.objects.filter(status=Message.Status.SCHEDULED).count() == 1


def test_the_workflows_automatic_text_counts_as_the_first(consented_number, agent, open_all_day, at):
    message_queue(phone_number=consented_number, sent_by=None, body="Your quote is ready.", send_at=at)
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=agent, body="Your quote is ready.", send_at=at)
    assert "(by a workflow)" in refused.value.message


def test_other_words_another_time_or_a_canceled_twin_may_be_scheduled(consented_number, agent, open_all_day, at):
    first = message_queue(phone_number=consented_number, sent_by=agent, body="See you at 8.", send_at=at)
    message_queue(phone_number=consented_number, sent_by=agent, body="See you at 9.", send_at=at)
    message_queue(phone_number=consented_number, sent_by=agent, body="See you at 8.", send_at=at + timedelta(hours=1))
    message_cancel(message=first)
    message_queue(phone_number=consented_number, sent_by=agent, body="See you at 8.", send_at=at)
    assert Message.objects.filter(status=Message.Status.SCHEDULED).count() == 3


def test_the_api_answers_409_duplicate_schedule(consented_number, agent, open_all_day, at):
    from tests.api.conftest import token_client

    api = token_client(agent)
    payload = {"phone_number": consented_number.pk, "body": "See you at 8.", "send_at": at.isoformat()}
    assert api.post("/api/v1/messages/", payload, format="json").status_code == 201
    response = api.post("/api/v1/messages/", payload, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_schedule"


def test_the_panel_cancels_a_scheduled_text_of_the_person(agent_client, consented_number, agent, open_all_day, at):
    text = message_queue(phone_number=consented_number, sent_by=agent, body="See you at 8.", send_at=at)
    url = reverse("text_cancel_scheduled", args=[consented_number.pk, text.pk])
    response = agent_client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Canceled the text scheduled for" in response.content.decode()
    text.refresh_from_db()
    assert text.status == Message.Status.CANCELED


def test_cancel_answers_404_for_another_organizations_text(agent_client, consented_number, other_org, at):
    theirs = PhoneNumberFactory(lead__facility__organization=other_org, number="+15125550999")
    from tests.factories import MessageFactory

    text = MessageFactory(phone_number=theirs, status=Message.Status.SCHEDULED, send_at=at)
    for phone_id in (consented_number.pk, theirs.pk):
        response = agent_client.post(reverse("text_cancel_scheduled", args=[phone_id, text.pk]), HTTP_HX_REQUEST="true")
        assert response.status_code == 404
    text.refresh_from_db()
    assert text.status == Message.Status.SCHEDULED
