"""The catalog of webhook events: for each type, when it fires and the serializer that builds its ``data``.

One source for three things: the payloads themselves (``receivers.py``, the outbox's drain
``services.outbox_drain`` and ``endpoint_send_test`` build ``data`` with
``EVENTS[type].serializer``), their schemas in the OpenAPI document (a ``WebhookEvent<Type>``
component each, the ``payload`` of a delivery in the API) and the README's catalog
(``catalog_markdown``; ``manage.py webhook_catalog --readme`` writes it and a test holds
the README to it). A new event type without an entry here fails tests/integrations/test_event_schemas.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from core.api import StrictCharField
from interactions.models import Consent, ConsentEvent
from interactions.serializers import ConsentEventSerializer
from messaging.serializers import MessageSerializer
from workflows.api import TaskSerializer

from .models import TEST_EVENT, EventType, WebhookEndpoint


class ConsentChangeSerializer(serializers.Serializer):
    """A number's consent after a change, and the ledger row that changed it."""

    number = StrictCharField(help_text="E.164.")
    status = serializers.ChoiceField(choices=Consent.Status.choices)
    # A declared field named like Field.source (DRF's metaclass takes it out of the class).
    source = serializers.ChoiceField(choices=ConsentEvent.Source.choices, allow_null=True)  # type: ignore[assignment]
    at = serializers.DateTimeField(allow_null=True)
    opted_out_at = serializers.DateTimeField(
        allow_null=True, help_text="Set while the person's own opt-out is in force: only their START re-opts in."
    )
    phone_numbers = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of the saved phone numbers with this number."
    )
    event = ConsentEventSerializer(help_text="The ledger row of this change.")


class TestEventSerializer(serializers.Serializer):
    """What a test event says: which endpoint it was sent to, and when."""

    endpoint = serializers.IntegerField(help_text="The endpoint's id.")
    url = StrictCharField(help_text="The endpoint's URL, as registered.")
    sent_at = serializers.DateTimeField()
    message = StrictCharField()


def test_event_data(endpoint: WebhookEndpoint, *, now: datetime) -> dict[str, Any]:
    return TestEventSerializer(
        {
            "endpoint": endpoint.pk,
            "url": endpoint.url,
            "sent_at": now,
            "message": (
                "A test event from Textdesk: if your receiver verified this delivery's signature, "
                "it is ready for real events."
            ),
        }
    ).data


@dataclass(frozen=True)
class EventSpec:
    event_type: str
    object_type: str
    fires: str
    serializer: type[serializers.Serializer]

    def __post_init__(self) -> None:
        # A plain string, not the EventType member: the schema's YAML can't write an enum member.
        object.__setattr__(self, "event_type", str(self.event_type))


EVENTS: dict[str, EventSpec] = {
    spec.event_type: spec
    for spec in (
        EventSpec(EventType.MESSAGE_QUEUED, "message",
                  "An outbound text was queued to send (API, card, workflow; a scheduled one when its time comes).",
                  MessageSerializer),
        EventSpec(EventType.MESSAGE_SENT, "message", "The carrier accepted an outbound text.", MessageSerializer),
        EventSpec(EventType.MESSAGE_DELIVERED, "message", "The carrier reported a text delivered.", MessageSerializer),
        EventSpec(EventType.MESSAGE_FAILED, "message",
                  "A text failed or was undelivered (`error_code` and `error_message` say why).", MessageSerializer),
        EventSpec(EventType.MESSAGE_RECEIVED, "message", "A text came in from a person.", MessageSerializer),
        EventSpec(EventType.CONSENT_GRANTED, "consent",
                  "Text permission was granted (agent, API, web form, import, the person's START).",
                  ConsentChangeSerializer),
        EventSpec(EventType.CONSENT_REVOKED, "consent",
                  "Text permission was revoked (STOP, unsubscribe link, carrier, agent, API); never waits behind "
                  "an earlier failing event.", ConsentChangeSerializer),
        EventSpec(EventType.TASK_CREATED, "task", "A workflow step made a task for an agent.", TaskSerializer),
        EventSpec(EventType.TASK_COMPLETED, "task", "An agent marked a task done.", TaskSerializer),
        EventSpec(TEST_EVENT, "endpoint", "A manager sent a test event to this one endpoint (API or admin).",
                  TestEventSerializer),
    )
}  # fmt: skip


def _camel(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace(".", "_").split("_"))


def _envelope(spec: EventSpec) -> type[serializers.Serializer]:
    """The body of a delivery of ``spec.event_type``: a serializer named ``WebhookEvent<Type>`` (its component)."""
    type_field = extend_schema_field({"type": "string", "enum": [spec.event_type], "description": spec.fires})(
        type(f"{_camel(spec.event_type)}TypeField", (serializers.CharField,), {})
    )
    fields = {
        "id": serializers.UUIDField(help_text="The event's id, the same on every retry: drop one you already have."),
        "type": type_field(),
        "created_at": serializers.DateTimeField(),
        "data": spec.serializer(),
        "__doc__": f"The body of a `{spec.event_type}` delivery: {spec.fires}",
    }
    return type(f"WebhookEvent{_camel(spec.event_type)}Serializer", (serializers.Serializer,), fields)


ENVELOPES: dict[str, serializers.Serializer | type[serializers.Serializer]] = {
    event_type: _envelope(spec) for event_type, spec in EVENTS.items()
}

# The ``payload`` of a delivery: one of the envelopes, told apart by ``type``.
PAYLOAD_SCHEMA = PolymorphicProxySerializer(
    component_name="WebhookEventPayload",
    serializers=ENVELOPES,
    resource_type_field_name="type",
)


def catalog_markdown() -> str:
    """The README's table of events: type, when it fires, the fields of ``data``."""
    lines = ["| event type | when it fires | `data` fields |", "| --- | --- | --- |"]
    for spec in EVENTS.values():
        fields = ", ".join(f"`{name}`" for name in spec.serializer().fields)
        lines.append(f"| `{spec.event_type}` | {spec.fires} | {fields} |")
    return "\n".join(lines) + "\n"
