"""Twilio answers STOP on long codes and toll-free numbers by default: a new organization does
not add a second confirmation to a keyword opt-out (FCC 24-24 allows one)."""

from __future__ import annotations

import pytest

from interactions.models import Organization
from messaging.models import Message
from tests.messaging.twilio_payloads import post_inbound

pytestmark = pytest.mark.django_db


def test_a_new_organization_leaves_the_stop_reply_to_twilio(client, consented_number):
    organization = Organization.objects.create(name="New Storage", slug="new-storage")
    assert organization.twilio_replies_to_stop  # the default, as Twilio's default opt-out handling replies

    consented_number.organization.twilio_replies_to_stop = True
    consented_number.organization.save()
    response = post_inbound(client, "inbound_stop")

    assert response.status_code == 200
    assert not Message.objects.exclude(confirms_event=None).exists()  # Twilio's reply is the one confirmation
