"""Events made now and their deliveries, each handed to the ``deliver_webhook`` task once committed.

The outbox (``outbox``) and ``event_publish`` make events here; the endpoints and the deliveries hand
deliveries to the workers through ``deliver_on_commit``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from .subscriptions import subscribed_event_types

logger = logging.getLogger(__name__)


def deliver_on_commit(deliveries: QuerySet[WebhookDelivery] | list[int]) -> None:
    """Hand each delivery to the ``deliver_webhook`` task once the transaction commits."""
    from ..tasks import deliver_webhook

    ids = list(deliveries.values_list("pk", flat=True)) if hasattr(deliveries, "values_list") else deliveries

    def enqueue() -> None:
        for pk in ids:
            try:
                deliver_webhook.delay(pk)
            except Exception:  # the row is saved: the due-deliveries sweep sends it once the broker is back
                logger.exception("could not hand webhook delivery %s to the worker; the sweep will", pk)

    transaction.on_commit(enqueue)


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One event to make: its envelope, and what renders its ``data`` (called once somebody wants it)."""

    organization_id: int
    type: str
    object_type: str
    object_id: str
    at: datetime
    data: Callable[[], dict]


def event_publish(
    *, organization_id: int, type: str, object_type: str, object_id: Any, data: Callable[[], dict]
) -> WebhookEvent | None:
    """Make an event now, and a delivery to each active endpoint of the organization that wants it.

    ``data`` is called only when some endpoint wants the event (the API's view of the object).
    ``None`` when nobody listens. What happens in the apps below does not come here but goes
    through ``event_record`` (off the send path); this is the fan-out itself, for one event.
    """
    if type not in subscribed_event_types(organization_id):
        return None
    made = events_make(
        [PendingEvent(organization_id, type, object_type, str(object_id), timezone.now(), data=data)],
    )
    return made[0] if made else None


def events_make(pending: list[PendingEvent]) -> list[WebhookEvent]:
    """The events and their deliveries, in ``pending``'s order, and each delivery handed to the
    workers on commit. One read of the endpoints per organization; an event nobody wants any more
    (its endpoint switched off meanwhile) is not made."""
    wanted: dict[int, list[WebhookEndpoint]] = {}
    events: list[WebhookEvent] = []
    deliveries: list[WebhookDelivery] = []
    for entry in pending:
        if entry.organization_id not in wanted:
            wanted[entry.organization_id] = list(
                WebhookEndpoint.objects.filter(organization_id=entry.organization_id, active=True)
            )
        endpoints = [endpoint for endpoint in wanted[entry.organization_id] if entry.type in endpoint.events]
        if not endpoints:
            continue
        data = _event_data(entry)
        if data is None:
            continue
        event = WebhookEvent(
            organization_id=entry.organization_id,
            type=entry.type,
            object_type=entry.object_type,
            object_id=entry.object_id,
            data=data,
            created_at=entry.at,
        )
        events.append(event)
        deliveries.extend(
            WebhookDelivery(
                organization_id=entry.organization_id,
                endpoint=endpoint,
                event=event,
                object_key=f"{entry.object_type}:{entry.object_id}",
                next_attempt_at=timezone.now(),
            )
            for endpoint in endpoints
        )
    if events:
        with transaction.atomic():
            WebhookEvent.objects.bulk_create(events)
            made = WebhookDelivery.objects.bulk_create(deliveries)
            deliver_on_commit([delivery.pk for delivery in made])
    return events


def _event_data(entry: PendingEvent) -> dict | None:
    """The event's ``data``; ``None`` (logged) for one that can't be rendered, which is then not made
    rather than holding up every later event. A database error is not swallowed: the transaction
    is lost, the rows stay, and the next drain tries again."""
    try:
        return plain_json(entry.data())
    except DatabaseError:
        raise
    except Exception:
        logger.exception("webhook event %s of %s %s not made", entry.type, entry.object_type, entry.object_id)
        return None


def event_body(event: WebhookEvent) -> bytes:
    """The JSON every delivery of ``event`` carries, the same bytes on every attempt."""
    payload = {"id": str(event.id), "type": event.type, "created_at": event.created_at, "data": event.data}
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def plain_json(data: dict) -> dict:
    """``data`` as JSON values (a datetime, a decimal or a UUID as its string), as an event stores it."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))
