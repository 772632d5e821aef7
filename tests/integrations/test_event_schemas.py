"""Every event type has its payload schema in the OpenAPI document (``WebhookEvent<Type>``, built from the
serializers that build the payloads, integrations/events.py), real payloads of each validate against it, and
the README's catalog is the one those serializers give."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator

from integrations.events import EVENTS, catalog_markdown
from integrations.models import EVENT_TYPES, EventType
from integrations.receivers import MESSAGE_EVENTS
from integrations.services import endpoint_create, endpoint_send_test
from interactions.services import consent_grant, consent_revoke
from messaging.models import Message
from messaging.signals import message_status_changed
from tests.factories import MessageFactory, PhoneNumberFactory, WorkflowFactory, WorkflowStepFactory
from workflows.models import Workflow
from workflows.services import enrollment_start, task_complete, task_create_for_step

pytestmark = pytest.mark.django_db


def _component(event_type: str) -> str:
    return "WebhookEvent" + "".join(part.capitalize() for part in re.split(r"[._]", event_type))


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema says it (the rest is JSON Schema already)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_event_type_the_code_can_emit_has_a_payload_schema(openapi):
    emitted = {*MESSAGE_EVENTS.values(), *EventType.values, *(value for value, _ in EVENT_TYPES)}
    components = openapi["components"]["schemas"]

    assert set(EVENTS) == emitted
    for event_type in emitted:
        schema = components[_component(event_type)]
        named = schema["properties"]["type"].get("allOf", [schema["properties"]["type"]])[0]
        enum = components[named["$ref"].rsplit("/", 1)[1]] if "$ref" in named else named
        assert enum["enum"] == [event_type]
        assert set(schema["required"]) >= {"id", "type", "created_at", "data"}
    payload = components["WebhookEventPayload"]
    assert payload["discriminator"]["propertyName"] == "type"
    assert set(payload["discriminator"]["mapping"]) == emitted


@pytest.fixture
def all_events(receiver, org, facility, manager, open_all_day, django_capture_on_commit_callbacks):
    """One real delivery of every event type, made by the code that makes them in production."""
    endpoint = endpoint_create(organization=org, url=receiver.url, events=list(EventType.values))
    with django_capture_on_commit_callbacks(execute=True):
        phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
        consent_grant(organization=org, number=phone.number, source="web_form", evidence="quote form")
        message = MessageFactory(phone_number=phone, status=Message.Status.SENT)
        for status in MESSAGE_EVENTS:
            message_status_changed.send(sender=Message, message=message, status=status)
        workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Web leads")
        WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(0, 0), action="manual_text")
        enrollment = enrollment_start(workflow=workflow, owner=phone.lead, source="agent")
        task = task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)
        task_complete(task=task, user=manager)
        consent_revoke(organization=org, number=phone.number, source="api", evidence="asked by phone")
        endpoint_send_test(endpoint=endpoint)
    return receiver


def test_real_payloads_of_every_event_type_validate_against_their_schema(all_events, openapi):
    components = _json_schema(openapi["components"])
    received = {request.json["type"]: request.json for request in all_events.requests}

    assert set(received) == set(EVENTS)
    for event_type, body in received.items():
        for name in (_component(event_type), "WebhookEventPayload"):
            validator = Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
            assert errors == [], (event_type, name, errors)
        assert set(body["data"]) == set(EVENTS[event_type].serializer().fields)


def test_a_payload_that_breaks_its_schema_is_caught(all_events, openapi):
    """The check above can fail: a wrong field type or an unknown type is refused."""
    components = _json_schema(openapi["components"])
    body = next(r.json for r in all_events.requests if r.json["type"] == "consent.revoked")
    broken = {**body, "data": {**body["data"], "phone_numbers": "not a list"}}
    validator = Draft202012Validator({"$ref": "#/components/schemas/WebhookEventPayload", "components": components})

    assert not validator.is_valid(broken)
    assert not validator.is_valid({**body, "type": "consent.maybe"})


def test_the_readme_catalog_is_the_one_the_serializers_give():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    start, end = "<!-- webhook-catalog: start -->\n", "<!-- webhook-catalog: end -->"
    assert start in readme and end in readme
    shown = readme.split(start, 1)[1].split(end, 1)[0]
    assert shown == catalog_markdown(), "run `python manage.py webhook_catalog --readme`"


def test_the_served_schema_carries_the_event_payloads(client):
    """``/api/schema/`` (YAML, as served) writes the event types as plain strings."""
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert "WebhookEventConsentRevoked:" in response.content.decode()
    assert "- consent.revoked" in response.content.decode()
