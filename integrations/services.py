"""Every write of the integrations app: webhook endpoints, events and deliveries, API keys."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from core.errors import ServiceError
from core.fastsql import insert
from core.phonenumbers import is_valid, present
from interactions.models import Membership, Organization

from .destinations import RESPONSE_EXCERPT, destination_post, destination_refusal
from .models import (
    TEST_EVENT,
    ApiKey,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookOutbox,
)
from .signing import SECRET_PREFIX, SIGNATURE_HEADER, signature_header, standard_headers

logger = logging.getLogger(__name__)

# A delivery is retried with exponential backoff for this long; an endpoint failing this long is switched off.
RETRY_FOR = timedelta(hours=24)
SECRET_GRACE = timedelta(hours=24)  # a rotated-out secret keeps signing this long


# --- endpoints -------------------------------------------------------------------------------


def _new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_endpoint(*, url: str, events: list[str]) -> None:
    refusal = destination_refusal(url)
    if refusal:
        raise ServiceError("invalid_url", refusal, field="url")
    unknown = [event for event in events if event not in EventType.values]
    if unknown or not events:
        raise ServiceError(
            "invalid_events",
            f"Choose one or more of: {', '.join(EventType.values)}." + (f" Unknown: {unknown[0]}." if unknown else ""),
            field="events",
        )


def endpoint_create(
    *, organization: Organization, url: str, events: list[str], description: str = "", active: bool = True
) -> WebhookEndpoint:
    """Register a URL for the given event types, with a new signing secret (shown to the caller)."""
    events = list(dict.fromkeys(events))
    _check_endpoint(url=url, events=events)
    return WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        events=events,
        description=description,
        active=active,
        secret=_new_secret(),
    )


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or switch it on or off.

    Switching a disabled endpoint back on forgets its failures and sends what waited, in order.
    """
    unknown = set(changes) - {"url", "events", "description", "active"}
    if unknown:
        raise ServiceError("unknown_field", f"These fields can’t be set here: {', '.join(sorted(unknown))}.")
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    _check_endpoint(url=changes.get("url", locked.url), events=changes.get("events", locked.events))
    reactivated = changes.get("active") and not locked.active
    for name, value in changes.items():
        setattr(locked, name, value)
    if reactivated:
        locked.failing_since, locked.disabled_at, locked.disabled_reason = None, None, ""
        now = timezone.now()
        WebhookDelivery.objects.filter(endpoint=locked, status=WebhookDelivery.Status.PENDING).update(
            next_attempt_at=now
        )
        _deliver_on_commit(WebhookDelivery.objects.filter(endpoint=locked, status=WebhookDelivery.Status.PENDING))
    locked.save()
    return locked


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookEndpoint:
    """A new signing secret; the old one keeps signing (a second ``v1``) for ``SECRET_GRACE``."""
    now = now or timezone.now()
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    locked.previous_secret, locked.previous_secret_expires_at = locked.secret, now + SECRET_GRACE
    locked.secret = _new_secret()
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return locked


@transaction.atomic
def endpoint_rotation_end(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """End a rotation's grace period now: the old secret stops signing (every receiver switched)."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not locked.previous_secret:
        raise ServiceError(
            "no_rotation", "No rotation is in its grace period: only the current secret signs.", status=409
        )
    locked.previous_secret, locked.previous_secret_expires_at = "", None
    locked.save(update_fields=["previous_secret", "previous_secret_expires_at", "updated_at"])
    return locked


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        keys.append(endpoint.previous_secret)
    return keys


# --- subscriptions: which event types an organization's endpoints want ---------------------------

# Every text's status changes ask "does anybody want this event?"; most organizations have no
# endpoint. The answer is cached (Redis in production, shared by every process) and forgotten
# whenever an endpoint is saved or deleted (receivers.py), right away and again after commit so a
# read racing the commit cannot keep an old answer. The TTL bounds any answer kept by a write that
# bypassed the model's signals (a queryset ``update``): a positive answer is always checked against
# the database, so only a new subscription could be missed, for at most this long.
#
# Each process also keeps the answer for ``SUBSCRIPTIONS_LOCAL_TTL``: a busy sender asks hundreds of
# times a second, and this spares each ask a round trip. The process that changes an endpoint
# forgets its own copy at once; another process may go on with its copy for at most that long, so
# an endpoint registered less than a second ago may miss events of that second (the sync feed,
# ``?updated_since``, has them).
SUBSCRIPTIONS_TTL = 60  # seconds
SUBSCRIPTIONS_LOCAL_TTL = 1.0  # seconds
_local_subscriptions: dict[int, tuple[float, frozenset[str]]] = {}


def _subscriptions_key(organization_id: int) -> str:
    return f"webhooks:subscribed:{organization_id}"


def subscribed_event_types(organization_id: int) -> frozenset[str]:
    """The event types at least one active endpoint of the organization wants."""
    local = _local_subscriptions.get(organization_id)
    if local is not None and local[0] > time.monotonic():
        return local[1]
    types = _subscribed_event_types_shared(organization_id)
    _local_subscriptions[organization_id] = (time.monotonic() + SUBSCRIPTIONS_LOCAL_TTL, types)
    return types


def _subscribed_event_types_shared(organization_id: int) -> frozenset[str]:
    key = _subscriptions_key(organization_id)
    try:
        cached = cache.get(key)
    except Exception as exc:  # the cache is unreachable: ask the database
        logger.warning("webhook subscriptions not cached: the cache is unreachable (%s)", type(exc).__name__)
        cached = None
    if cached is not None:
        return cached
    rows = WebhookEndpoint.objects.filter(organization_id=organization_id, active=True).values_list("events", flat=True)
    types = frozenset(event for events in rows for event in events)
    with contextlib.suppress(Exception):
        cache.set(key, types, SUBSCRIPTIONS_TTL)
    return types


def subscriptions_changed(organization_id: int) -> None:
    """Forget the cached subscriptions of the organization, now and once the change is committed."""
    key = _subscriptions_key(organization_id)

    def forget() -> None:
        _local_subscriptions.pop(organization_id, None)
        try:
            cache.delete(key)
        except Exception as exc:
            logger.warning("webhook subscriptions cache not cleared (%s); it expires in %ss", exc, SUBSCRIPTIONS_TTL)

    forget()
    transaction.on_commit(forget)


# --- events and deliveries --------------------------------------------------------------------


def _deliver_on_commit(deliveries: QuerySet[WebhookDelivery] | list[int]) -> None:
    from .tasks import deliver_webhook

    ids = list(deliveries.values_list("pk", flat=True)) if hasattr(deliveries, "values_list") else deliveries

    def enqueue() -> None:
        for pk in ids:
            try:
                deliver_webhook.delay(pk)
            except Exception:  # the row is saved: the due-deliveries sweep sends it once the broker is back
                logger.exception("could not hand webhook delivery %s to the worker; the sweep will", pk)

    transaction.on_commit(enqueue)


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
    made = _events_make(
        [_Pending(organization_id, type, object_type, str(object_id), timezone.now(), data=data)],
    )
    return made[0] if made else None


# --- the outbox: events recorded on the send path, made by the webhooks worker -------------------
#
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


@dataclass(frozen=True, slots=True)
class _Pending:
    """One event to make: its envelope, and what renders its ``data`` (called once somebody wants it)."""

    organization_id: int
    type: str
    object_type: str
    object_id: str
    at: datetime
    data: Callable[[], dict]


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
        entry.data = _plain_json(data())
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


def _plain_json(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _drain_soon() -> None:
    """Have a drain run soon: one publish per burst, whoever holds the gate has published it; nothing
    at all while a drain this process published is still to come."""
    global _drain_reads_after
    from .tasks import drain_webhook_outbox

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
            made += len(_events_make([_pending_of(row) for row in rows]))
            WebhookOutbox.objects.filter(pk__in=[row.pk for row in rows]).delete()


def _pending_of(row: WebhookOutbox) -> _Pending:
    from .events import EVENTS

    def data() -> dict:
        if row.model and row.row is not None:  # a text's columns: rendered now, as the API renders it
            return EVENTS[row.type].serializer(_rebuilt(row.model, row.row)).data
        return row.data or {}

    return _Pending(row.organization_id, row.type, row.object_type, row.object_id, row.at, data)


def _events_make(pending: list[_Pending]) -> list[WebhookEvent]:
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
            _deliver_on_commit([delivery.pk for delivery in made])
    return events


def _event_data(entry: _Pending) -> dict | None:
    """The event's ``data``; ``None`` (logged) for one that can't be rendered, which is then not made
    rather than holding up every later event. A database error is not swallowed: the transaction
    is lost, the rows stay, and the next drain tries again."""
    try:
        return _plain_json(entry.data())
    except DatabaseError:
        raise
    except Exception:
        logger.exception("webhook event %s of %s %s not made", entry.type, entry.object_type, entry.object_id)
        return None


def event_body(event: WebhookEvent) -> bytes:
    """The JSON every delivery of ``event`` carries, the same bytes on every attempt."""
    payload = {"id": str(event.id), "type": event.type, "created_at": event.created_at, "data": event.data}
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def _backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min… up to an hour between attempts, with jitter (about 30 attempts in 24 hours)."""
    return timedelta(seconds=min(3600.0, 30.0 * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2))


LAST_RESPONSE = WebhookDelivery._meta.get_field("last_response").max_length or 500

# An attempt claimed but never recorded (its worker died mid-call) is due again after this long:
# longer than the POST's own timeouts, so a live attempt is never doubled.
ATTEMPT_LEASE = timedelta(seconds=60)
# Events that never wait behind an earlier pending one of the same object: a revocation must reach
# the integrator even while an older event of that number keeps failing (receivers order a number's
# consent events by ``created_at``, README "Webhooks").
JUMPS_THE_QUEUE = frozenset({"consent.revoked"})


def delivery_attempt(*, delivery_id: int, now: datetime | None = None, lease: str | None = None) -> str:
    """Try to send one delivery; what happened: ``succeeded``, ``retry``, ``failed``, ``waiting``,
    ``not_due`` or ``skipped``.

    Three steps, and the HTTP call is outside any transaction: (1) claim the delivery (row lock,
    a short transaction) — only if its attempt is due (the backoff holds whatever asked: a
    duplicate task is ``not_due``) or the sweep handed it out under ``lease``; the claim moves
    ``next_attempt_at`` past the call, so nothing else takes it meanwhile; (2) POST, holding no
    lock (and, in a worker, no database connection); (3) record the answer.

    In order per object: while an earlier delivery of the same object to the same endpoint is
    pending, this one waits (``waiting``) and is sent right after that one succeeds, except the
    events in ``JUMPS_THE_QUEUE``. A 2xx is a success; anything else (or no answer) is retried
    with backoff until ``RETRY_FOR`` after the event, then given up. An endpoint whose attempts all
    failed for ``RETRY_FOR`` is switched off (its managers see it on every page).
    """
    now = now or timezone.now()
    claimed = _delivery_claim(delivery_id, now=now, lease=lease)
    if isinstance(claimed, str):
        return claimed
    _release_connection()
    started = time.monotonic()
    code, excerpt, error = _post_signed(claimed, now=now)
    duration_ms = round((time.monotonic() - started) * 1000)
    excerpt = _redacted(excerpt, [claimed.endpoint.secret, claimed.endpoint.previous_secret])
    return _delivery_record(claimed.pk, now=now, code=code, excerpt=excerpt, error=error, duration_ms=duration_ms)


def _delivery_claim(delivery_id: int, *, now: datetime, lease: str | None) -> WebhookDelivery | str:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None or not delivery.endpoint.active:
            return "skipped"
        handed_out = (
            lease is not None
            and delivery.next_attempt_at is not None
            and (delivery.next_attempt_at.isoformat() == lease)
        )
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now and not handed_out:
            return "not_due"
        if delivery.event.type not in JUMPS_THE_QUEUE and _earlier_pending(delivery).exists():
            return "waiting"
        delivery.next_attempt_at = now + ATTEMPT_LEASE
        delivery.save(update_fields=["next_attempt_at", "updated_at"])
        return delivery


def _earlier_pending(delivery: WebhookDelivery) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        object_key=delivery.object_key,
        status=WebhookDelivery.Status.PENDING,
        pk__lt=delivery.pk,
    ).exclude(event__type__in=JUMPS_THE_QUEUE)


def _release_connection() -> None:
    """In a worker, give the database connection back (to the pool) for the length of the POST:
    a slow receiver must not hold one of the connections texts are sent with. Inside a
    transaction (a test's), the connection stays."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        connection.close()


def _redacted(text: str, secrets: list[str]) -> str:
    """The answer's excerpt without the endpoint's signing secrets (a receiver that echoes what it
    was configured with must not put them in a log managers read), whole or as their base64 part."""
    for secret in filter(None, secrets):
        for form in (secret, secret.removeprefix(SECRET_PREFIX)):
            text = text.replace(form, "[secret removed]")
    return text


def _delivery_record(
    delivery_id: int, *, now: datetime, code: int | None, excerpt: str, error: str, duration_ms: int
) -> str:
    error = error or ("" if code and 200 <= code < 300 else f"HTTP {code}")
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .get(pk=delivery_id)
        )
        # Every POST made is logged, even one whose delivery was settled meanwhile.
        WebhookAttempt.objects.create(
            organization_id=delivery.organization_id,
            delivery=delivery,
            attempted_at=now,
            status_code=code,
            error=error[:300],
            duration_ms=duration_ms,
            response_excerpt=excerpt[:RESPONSE_EXCERPT],
        )
        if delivery.status != WebhookDelivery.Status.PENDING:
            return "skipped"
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.last_status_code = now, code
        delivery.last_response, delivery.last_error = excerpt[:LAST_RESPONSE], error[:300]
        if code is not None and 200 <= code < 300:
            _delivery_succeeded(delivery, now=now)
            return "succeeded"
        _delivery_failed(delivery, now=now)
        return "failed" if delivery.status == WebhookDelivery.Status.FAILED else "retry"


def _post_signed(delivery: WebhookDelivery, *, now: datetime) -> tuple[int | None, str, str]:
    """POST the delivery's event to its endpoint, signed with the endpoint's secrets: the status code (``None``
    without an answer), an excerpt of the answer and the error, as ``destination_post`` reports them."""
    body = event_body(delivery.event)
    keys, timestamp = _signing_secrets(delivery.endpoint, now), int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Textdesk-Webhooks/1",
        **standard_headers(secrets=keys, msg_id=str(delivery.event.id), timestamp=timestamp, body=body),
        SIGNATURE_HEADER: signature_header(secrets=keys, timestamp=timestamp, body=body),  # deprecated
        "Textdesk-Event-Id": str(delivery.event_id),
        "Textdesk-Event-Type": delivery.event.type,
    }
    answer = destination_post(delivery.endpoint.url, body=body, headers=headers)
    return answer.status, answer.excerpt, answer.error


def _delivery_succeeded(delivery: WebhookDelivery, *, now: datetime) -> None:
    """Delivered: the endpoint is healthy again, and the object's next pending delivery goes on commit."""
    endpoint = delivery.endpoint
    delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.Status.SUCCEEDED, now, None
    delivery.save()
    if endpoint.failing_since is not None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
    following = (
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint.pk, object_key=delivery.object_key, status=WebhookDelivery.Status.PENDING
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:1]
    )
    _deliver_on_commit(list(following))


def _delivery_failed(delivery: WebhookDelivery, *, now: datetime) -> None:
    """Not delivered: retried with backoff until ``RETRY_FOR`` after the event, then given up; an endpoint
    failing for ``RETRY_FOR`` is switched off."""
    endpoint = delivery.endpoint
    failing_since = endpoint.failing_since or now
    if endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=now)
    if now - delivery.created_at >= RETRY_FOR:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    else:
        delivery.next_attempt_at = now + _backoff(delivery.attempts)
    delivery.save()
    if now - failing_since >= RETRY_FOR:
        _endpoint_switch_off(endpoint=endpoint, now=now)


def _endpoint_switch_off(*, endpoint: WebhookEndpoint, now: datetime) -> None:
    hours = int(RETRY_FOR.total_seconds() // 3600)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=False,
        disabled_at=now,
        disabled_reason=f"Every delivery failed for {hours} hours; switched off. Fix the receiver, then switch "
        "it on again: waiting deliveries are sent then.",
        updated_at=now,
    )
    subscriptions_changed(endpoint.organization_id)
    logger.warning("webhook endpoint %s switched off after %s hours of failures", endpoint.pk, hours)


@transaction.atomic
def deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[tuple[int, str]]:
    """Pending deliveries whose next attempt is due, on active endpoints, handed out to the workers:
    each is marked (its ``next_attempt_at`` moved ``ATTEMPT_LEASE`` ahead) so the next sweep does
    not hand it out again while the broker lags; (id, lease) pairs — the task claims it under that lease.

    One waiting behind an earlier delivery of the same object is left out: that one's success sends it.
    """
    now = now or timezone.now()
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        object_key=OuterRef("object_key"),
        status=WebhookDelivery.Status.PENDING,
        pk__lt=OuterRef("pk"),
    ).exclude(event__type__in=JUMPS_THE_QUEUE)
    due = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, endpoint__active=True)
        .exclude(Q(Exists(earlier)) & ~Q(event__type__in=JUMPS_THE_QUEUE))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    lease_until = now + ATTEMPT_LEASE
    WebhookDelivery.objects.filter(pk__in=due).update(next_attempt_at=lease_until, updated_at=now)
    return [(pk, lease_until.isoformat()) for pk in due]


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event again (same event id, so a receiver that has it can drop it): a new log row."""
    if not delivery.endpoint.active:
        raise ServiceError(
            "endpoint_disabled", "This endpoint is switched off: switch it on first.", field="endpoint", status=409
        )
    again = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        object_key=delivery.object_key,
        next_attempt_at=timezone.now(),
    )
    _deliver_on_commit([again.pk])
    return again


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to this endpoint only, whatever events it subscribes to: it goes
    through the normal pipeline (signed, retried, every attempt logged), so the integrator can check
    their receiver end to end. The delivery is returned (its id is in the answer, to follow it)."""
    from .events import test_event_data

    now = now or timezone.now()
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not locked.active:
        raise ServiceError(
            "endpoint_disabled", "This endpoint is switched off: switch it on first.", field="endpoint", status=409
        )
    event = WebhookEvent.objects.create(
        organization_id=locked.organization_id,
        type=TEST_EVENT,
        object_type="endpoint",
        object_id=str(locked.pk),
        data=json.loads(json.dumps(test_event_data(locked, now=now), cls=DjangoJSONEncoder)),
    )
    # Its own object key: a test never waits behind (nor holds up) a real event of the endpoint.
    delivery = WebhookDelivery.objects.create(
        organization_id=locked.organization_id,
        endpoint=locked,
        event=event,
        object_key=f"test:{event.pk}",
        next_attempt_at=now,
    )
    _deliver_on_commit([delivery.pk])
    return delivery


# --- retention --------------------------------------------------------------------------------


def _delete_in_batches(queryset: QuerySet, *, batch_size: int) -> int:
    """Delete what ``queryset`` matches, ``batch_size`` rows a transaction: no long lock, no huge statement."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            queryset.model._default_manager.filter(pk__in=ids).delete()
        deleted += len(ids)


def webhook_history_purge(
    *, now: datetime | None = None, days: int | None = None, batch_size: int = 1000
) -> dict[str, int]:
    """Forget the webhook history older than ``WEBHOOK_RETENTION_DAYS`` (30): attempts, finished
    deliveries (succeeded or given up) and events no delivery still needs, in batches.

    A pending delivery stays whatever its age (its endpoint is switched off and it waits to be sent
    when switched on again), and so does its event. Counts of what went, by kind.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=days if days is not None else settings.WEBHOOK_RETENTION_DAYS)
    attempts = _delete_in_batches(WebhookAttempt.objects.filter(attempted_at__lt=cutoff), batch_size=batch_size)
    finished = WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(status=WebhookDelivery.Status.PENDING)
    deliveries = _delete_in_batches(finished, batch_size=batch_size)
    still_needed = WebhookDelivery.objects.filter(event_id=OuterRef("pk"))
    events = _delete_in_batches(
        WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(Exists(still_needed)), batch_size=batch_size
    )
    return {"attempts": attempts, "deliveries": deliveries, "events": events}


# --- API keys ---------------------------------------------------------------------------------

KEY_PREFIX = "td_"
LAST_USED_EVERY = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    role: str = Membership.Role.AGENT,
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new API key and the key itself, which is shown this once and only hashed from now on."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("required", "Name the key after what uses it (e.g. “PMS sync”).", field="name")
    if role not in Membership.Role.values:
        raise ServiceError("invalid_role", f"Choose a role: {', '.join(Membership.Role.values)}.", field="role")
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError("invalid_expiry", "The expiry must be in the future.", field="expires_at")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    user = get_user_model().objects.create(username=f"api-key-{prefix}", first_name=name[:150])
    user.set_unusable_password()
    user.save(update_fields=["password"])
    Membership.objects.create(user=user, organization=organization, role=role)
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        role=role,
        prefix=prefix,
        key_hash=_hash(key),
        user=user,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
        expires_at=expires_at,
    )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, by: User | None = None, now: datetime | None = None) -> ApiKey:
    """Stop a key from working at once; the row (and its user, named in records) stays.

    ``by`` is who asks; a key can't revoke itself (a leaked key would lock its owner out of the
    answer to the leak, and the log would name the key, not a person): a manager or another key does.
    """
    if by is not None and by.pk == api_key.user_id:
        raise ServiceError(
            "own_key", "An API key can't revoke itself; a manager revokes it in admin, or another key does.", status=409
        )
    locked = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = now or timezone.now()
        locked.save(update_fields=["revoked_at", "updated_at"])
        locked.user.is_active = False
        locked.user.save(update_fields=["is_active"])
    return locked


def api_key_authenticate(*, key: str, now: datetime | None = None) -> ApiKey | None:
    """The live key ``key`` is, with its user, membership and organization loaded; ``None`` if none."""
    now = now or timezone.now()
    if not key.startswith(KEY_PREFIX):
        return None
    prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
    api_key = ApiKey.objects.select_related("user__membership__organization").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(key)):
        return None
    if api_key.revoked_at is not None or (api_key.expires_at is not None and api_key.expires_at <= now):
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_EVERY:
        # At most one write a minute per key, whatever the request rate.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
