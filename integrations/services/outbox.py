"""The outbox: events recorded on the send path (``event_record``), made by the webhooks worker (``outbox_drain``)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.cache import cache
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from core.fastsql import insert
from core.phonenumbers import is_valid, present

from ..models import WebhookOutbox
from .publishing import PendingEvent, events_make, plain_json
from .subscriptions import subscribed_event_types

logger = logging.getLogger(__name__)

# A text that somebody watches pays one INSERT (``WebhookOutbox``, its columns as they are) and a
# Redis ``SET NX``; everything else (the endpoints' read, the serializer, the event's and the
# deliveries' INSERTs, a Celery publish per delivery) runs in the ``webhooks`` worker
# (docs/ARCHITECTURE.md, "Layers", after the signals). The INSERT is in PostgreSQL, not a Redis push: the row is
# as durable as the text (Redis may lose its last second), and the sweep finds it whatever
# happened to the broker.
#
# The row is written when the change is announced, right after its commit, not in the change's own
# transaction: the apps below announce on commit and never import their listeners, and a
# rolled-back change is never announced. A crash between the two loses the event, as it did before
# the outbox; the sync feed (``?updated_since``) has the change.
#
# The ``webhooks:drain`` gate (``cache.add``, Redis ``SET NX EX``) lets one drain task be published
# for a burst of rows instead of one per text (a publish costs about a millisecond); the drain clears
# the gate before it reads, so a row committed after its read sets the gate again and publishes the
# next drain. Should the publish fail, the gate expires after ``DRAIN_GATE_TTL`` and the sweep
# (``deliver_due_webhooks``, every 30 s) drains too: nothing is lost.
#
# The process that set the gate publishes its drain ``DRAIN_DELAY`` ahead (a Celery countdown), so
# that drain reads the outbox after every row this process writes meanwhile: until then the process
# asks Redis nothing (``_drain_window``), and a watched send pays the INSERT alone. A process that
# found the gate held asks again on its next row (it can't know when that drain reads). Eager tasks
# (``make run``, the tests) run the drain at once, so there each row asks.

DRAIN_GATE = "webhooks:drain"
DRAIN_GATE_TTL = 1  # second
DRAIN_DELAY = 0.5  # seconds between the first recorded row of a burst and its drain
# ``time.monotonic()`` before which a drain this process published is still to read the outbox. Shared
# by the process's threads without a lock: two that both find it past ask the gate, which lets one publish.
_drain_reads_after = 0.0
OUTBOX_BATCH = 200
_DRAIN_LOCK = 0x7E8D_0001  # PostgreSQL advisory lock: one drain at a time keeps each object's events in order


def event_record(
    *,
    organization_id: int,
    type: str,
    object_type: str,
    object_id: Any,
    instance: Model | None = None,
    data: Callable[[], dict] | None = None,
) -> bool:
    """Record that ``type`` happened to an object, for the ``webhooks`` worker to make the event; whether
    somebody listens (nothing is written when nobody does: no query).

    Give the changed ``instance`` (a text: its columns are kept as they are now, and the event
    renders them with the API's serializer later, so a ``message.sent`` says ``"sent"`` even if the
    text was delivered before the event was made), or ``data`` (called now, rare events).
    """
    if type not in subscribed_event_types(organization_id):
        return False  # the common case, and every send pays for this check: no query
    entry = WebhookOutbox(
        organization_id=organization_id,
        type=type,
        object_type=object_type,
        object_id=str(object_id),
        at=timezone.now(),
    )
    if instance is not None:
        entry.model, entry.row = instance._meta.label_lower, _columns(instance)
    else:
        assert data is not None, "an instance or its data"
        entry.data = plain_json(data())
    insert(entry)
    _drain_soon()
    return True


def _columns(instance: Model) -> dict[str, Any]:
    """The row's stored columns as JSON values (a datetime with its microseconds; a phone number, a
    decimal or a UUID as its string), each read back by its field's ``to_python`` (``_rebuilt``)."""
    row: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.generated:
            continue  # computed by the database from the others (a text's search vector)
        value = field.value_from_object(instance)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif present(value):  # as the column stores it; ``str()`` would validate it again on every text
            value = value.as_e164 if is_valid(value) else value.raw_input
        elif value is not None and not isinstance(value, str | int | float | bool | dict | list):
            value = field.value_to_string(instance)
        row[field.attname] = value
    return row


def _rebuilt(label: str, row: dict[str, Any]) -> Model:
    """The instance as ``_columns`` saw it (``Model.from_db``: no query; columns not kept are deferred)."""
    model = apps.get_model(label)
    fields = [field for field in model._meta.concrete_fields if field.attname in row]
    values = [None if row[f.attname] is None else f.to_python(row[f.attname]) for f in fields]
    return model.from_db("default", [f.attname for f in fields], values)


def _drain_soon() -> None:
    """Have a drain run soon: one publish per burst, whoever holds the gate has published it; nothing
    at all while a drain this process published is still to come."""
    global _drain_reads_after
    from ..tasks import drain_webhook_outbox

    if time.monotonic() < _drain_reads_after:
        return  # that drain reads the outbox after this row: no round trip
    try:
        if not cache.add(DRAIN_GATE, 1, DRAIN_GATE_TTL):
            return
    except Exception as exc:  # the cache is unreachable: the sweep drains
        logger.warning("webhook outbox not drained now: the cache is unreachable (%s)", type(exc).__name__)
        return
    eager = drain_webhook_outbox.app.conf.task_always_eager
    published = time.monotonic()
    try:
        drain_webhook_outbox.apply_async(countdown=None if eager else DRAIN_DELAY)
    except Exception:  # the row is saved: the sweep drains it once the broker is back
        logger.exception("could not hand the webhook outbox to the worker; the sweep will")
        return
    if not eager:  # an eager drain has read already
        _drain_reads_after = published + DRAIN_DELAY


def outbox_drain(*, batch_size: int = OUTBOX_BATCH) -> int:
    """Make the recorded events (``event_record``) and their deliveries, oldest first, and hand
    the deliveries to ``deliver_webhook``; how many were made.

    One drain at a time (an advisory lock on PostgreSQL; SQLite writes one at a time anyway), so
    each object's events are made, and their deliveries numbered, in the order they happened.
    A row that can't be rendered is logged and dropped rather than holding up every later event.
    """
    with contextlib.suppress(Exception):
        cache.delete(DRAIN_GATE)  # before reading: a row committed after the read sets it again
    made = 0
    while True:
        with transaction.atomic():
            connection = transaction.get_connection()
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DRAIN_LOCK])
            rows = list(WebhookOutbox.objects.order_by("pk")[:batch_size])
            if not rows:
                return made
            made += len(events_make([_pending_of(row) for row in rows]))
            WebhookOutbox.objects.filter(pk__in=[row.pk for row in rows]).delete()


def _pending_of(row: WebhookOutbox) -> PendingEvent:
    from ..events import EVENTS

    def data() -> dict:
        if row.model and row.row is not None:  # a text's columns: rendered now, as the API renders it
            return EVENTS[row.type].serializer(_rebuilt(row.model, row.row)).data
        return row.data or {}

    return PendingEvent(row.organization_id, row.type, row.object_type, row.object_id, row.at, data)
