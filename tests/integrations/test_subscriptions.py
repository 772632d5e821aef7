"""Who listens to which event is cached per organization, and every change of an endpoint is seen at once."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.services import (
    endpoint_create,
    endpoint_update,
    event_publish,
    subscribed_event_types,
    subscriptions,
)
from integrations.services.deliveries import _endpoint_switch_off
from tests.factories import FacilityFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/textdesk"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    subscriptions._local_subscriptions.clear()
    yield
    cache.clear()
    subscriptions._local_subscriptions.clear()


@pytest.fixture
def public_dns(monkeypatch):
    # The destination check resolves the host; example.com stands for a public receiver here.
    monkeypatch.setattr("integrations.services.endpoints.destination_refusal", lambda url: None)


def publish(org, type="message.queued"):
    return event_publish(organization_id=org.pk, type=type, object_type="message", object_id=1, data=lambda: {"id": 1})


def test_nobody_listening_costs_no_query_once_cached(org):
    assert publish(org) is None
    with CaptureQueriesContext(connection) as queries:
        assert publish(org) is None
        assert publish(org, "message.sent") is None
    assert len(queries) == 0


def test_a_new_endpoint_hears_the_next_event_and_a_switched_off_one_does_not(org, public_dns):
    assert publish(org) is None  # cached: nobody listens

    endpoint = endpoint_create(organization=org, url=URL, events=["message.queued"])
    assert publish(org) is not None
    assert publish(org, "message.sent") is None  # not a type it asked for

    endpoint_update(endpoint=endpoint, events=["message.sent"])
    assert publish(org) is None
    assert publish(org, "message.sent") is not None

    endpoint_update(endpoint=endpoint, active=False)
    assert publish(org, "message.sent") is None

    endpoint_update(endpoint=endpoint, active=True)
    assert subscribed_event_types(org.pk) == {"message.sent"}
    _endpoint_switch_off(endpoint=endpoint, now=timezone.now())  # a queryset update, not a save
    assert publish(org, "message.sent") is None

    endpoint.delete()
    assert subscribed_event_types(org.pk) == frozenset()


def test_organizations_are_cached_apart(org, public_dns):
    other = FacilityFactory(organization=OrganizationFactory()).organization
    endpoint_create(organization=other, url=URL, events=["message.queued"])
    assert publish(org) is None
    assert publish(other) is not None
    assert WebhookEvent.objects.filter(organization=other).count() == 1


def test_another_process_sees_a_new_endpoint_within_a_second(org, public_dns, monkeypatch):
    assert publish(org) is None  # this process keeps "nobody listens" for a second
    endpoint_create(organization=org, url=URL, events=["message.queued"])
    # Another process: its own copy is older than the change, which it did not see.
    subscriptions._local_subscriptions[org.pk] = (subscriptions.time.monotonic() + 1, frozenset())
    assert publish(org) is None
    later = subscriptions.time.monotonic() + subscriptions.SUBSCRIPTIONS_LOCAL_TTL + 0.01
    monkeypatch.setattr(subscriptions.time, "monotonic", lambda: later)
    assert publish(org) is not None
