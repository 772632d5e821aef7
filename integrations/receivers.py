"""The domain signals of the apps below become webhook events (sent on commit by their services).

Each is only recorded here (``event_record``: one INSERT when somebody subscribes, nothing when
nobody does); the ``webhooks`` worker makes the event and its deliveries (services ``outbox_drain``).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from interactions.models import ConsentEvent, Organization, PhoneNumber
from interactions.services import consent_status
from interactions.signals import consent_changed
from messaging.models import Message
from messaging.signals import message_status_changed, messages_status_changed
from workflows.models import Task
from workflows.selectors import tasks_for
from workflows.signals import task_changed

from .events import EVENTS
from .models import EventType, WebhookEndpoint
from .services import event_record, subscriptions_changed

MESSAGE_EVENTS: dict[str, str] = {
    Message.Status.QUEUED: EventType.MESSAGE_QUEUED,
    Message.Status.SENT: EventType.MESSAGE_SENT,
    Message.Status.DELIVERED: EventType.MESSAGE_DELIVERED,
    Message.Status.UNDELIVERED: EventType.MESSAGE_FAILED,
    Message.Status.FAILED: EventType.MESSAGE_FAILED,
    Message.Status.RECEIVED: EventType.MESSAGE_RECEIVED,
}


def _record_message(message: Message, status: str) -> None:
    if status in MESSAGE_EVENTS:
        spec = EVENTS[MESSAGE_EVENTS[status]]
        event_record(
            organization_id=message.organization_id,
            type=spec.event_type,
            object_type=spec.object_type,
            object_id=message.pk,
            instance=message,  # its columns now; rendered by the webhooks worker
        )


@receiver(message_status_changed, dispatch_uid="integrations.message_status_changed")
def on_message_status_changed(sender: Any, *, message: Message, status: str, **kwargs: Any) -> None:
    _record_message(message, status)


@receiver(messages_status_changed, dispatch_uid="integrations.messages_status_changed")
def on_messages_status_changed(sender: Any, *, message_ids: list[int], status: str, **kwargs: Any) -> None:
    if status not in MESSAGE_EVENTS:
        return
    for message in Message.objects.filter(pk__in=message_ids, status=status).order_by("pk"):
        _record_message(message, status)


@receiver(consent_changed, dispatch_uid="integrations.consent_changed")
def on_consent_changed(
    sender: Any, *, organization: Organization, number: str, event: ConsentEvent, **kwargs: Any
) -> None:
    granted = event.action == ConsentEvent.Action.GRANT
    spec = EVENTS[EventType.CONSENT_GRANTED if granted else EventType.CONSENT_REVOKED]

    def data() -> dict:
        state = consent_status(organization=organization, number=number)
        holders = PhoneNumber.objects.filter(organization=organization, number=number).order_by("pk")
        change = {
            "number": state.number,
            "status": state.status,
            "source": state.source,
            "at": state.at,
            "opted_out_at": state.person_opted_out_at,
            "phone_numbers": list(holders.values_list("pk", flat=True)),
            "event": event,
        }
        return spec.serializer(change).data

    event_record(
        organization_id=organization.pk,
        type=spec.event_type,
        object_type=spec.object_type,
        object_id=event.number.as_e164 if hasattr(event.number, "as_e164") else str(event.number),
        data=data,
    )


@receiver(task_changed, dispatch_uid="integrations.task_changed")
def on_task_changed(sender: Any, *, task: Task, created: bool, **kwargs: Any) -> None:
    if not created and task.status != Task.Status.DONE:
        return  # skipped tasks are not an event integrators asked for

    spec = EVENTS[EventType.TASK_CREATED if created else EventType.TASK_COMPLETED]

    def data() -> dict:
        row = tasks_for(organization=task.organization).filter(pk=task.pk).first() or task
        return spec.serializer(row).data

    event_record(
        organization_id=task.organization_id,
        type=spec.event_type,
        object_type=spec.object_type,
        object_id=task.pk,
        data=data,
    )


@receiver(post_save, sender=WebhookEndpoint, dispatch_uid="integrations.endpoint_saved")
@receiver(post_delete, sender=WebhookEndpoint, dispatch_uid="integrations.endpoint_deleted")
def on_endpoint_changed(sender: Any, *, instance: WebhookEndpoint, **kwargs: Any) -> None:
    # Every way an endpoint is saved or deleted (services, admin, a cascade) refreshes who listens.
    subscriptions_changed(instance.organization_id)
