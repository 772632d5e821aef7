"""The Send API's and webhooks' message shape: the hand-written rendering equals DRF's own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.serializers import MessageSerializer
from tests.factories import MessageFactory, MessageTemplateFactory

pytestmark = pytest.mark.django_db


def test_every_field_renders_as_drf_would(consented_number):
    now = timezone.now()
    template = MessageTemplateFactory(organization=consented_number.organization)
    texts = [
        MessageFactory(phone_number=consented_number, status=Message.Status.QUEUED, queued_at=now, template=template),
        MessageFactory(
            phone_number=consented_number,
            status=Message.Status.FAILED,
            from_number="+15125550100",
            error_code="30007",
            sending_at=now - timedelta(seconds=3),
            sent_at=now - timedelta(seconds=2),
            failed_at=now,
            segments=3,
            encoding="UCS2",
        ),
        MessageFactory(
            phone_number=consented_number,
            direction=Message.Direction.INBOUND,
            status=Message.Status.RECEIVED,
            to_number="+15125550199",
            from_number=consented_number.number,
            received_at=now,
        ),
        MessageFactory(phone_number=consented_number, status=Message.Status.SCHEDULED, send_at=now + timedelta(days=2)),
        MessageFactory(phone_number=consented_number, status=Message.Status.CANCELED, canceled_at=now, from_number=""),
    ]
    for text in texts:
        text.refresh_from_db()
        serializer = MessageSerializer(text)
        assert serializer.data == serializer.generic_representation(text)
        assert list(serializer.data) == list(serializer.generic_representation(text))
