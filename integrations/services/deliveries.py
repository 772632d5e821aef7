"""Deliveries: each attempt (signed, in order per object, backoff, switch-off), the due sweep, a redelivery."""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.errors import ServiceError

from ..destinations import RESPONSE_EXCERPT, destination_post
from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..signing import SECRET_PREFIX, SIGNATURE_HEADER, signature_header, standard_headers
from .publishing import deliver_on_commit, event_body
from .subscriptions import subscriptions_changed

logger = logging.getLogger(__name__)

# A delivery is retried with exponential backoff for this long; an endpoint failing this long is switched off.
RETRY_FOR = timedelta(hours=24)

LAST_RESPONSE = WebhookDelivery._meta.get_field("last_response").max_length or 500

# An attempt claimed but never recorded (its worker died mid-call) is due again after this long:
# longer than the POST's own timeouts, so a live attempt is never doubled.
ATTEMPT_LEASE = timedelta(seconds=60)
# Events that never wait behind an earlier pending one of the same object: a revocation must reach
# the integrator even while an older event of that number keeps failing (receivers order a number's
# consent events by ``created_at``, README "Webhooks").
JUMPS_THE_QUEUE = frozenset({"consent.revoked"})


def _backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min… up to an hour between attempts, with jitter (about 30 attempts in 24 hours)."""
    return timedelta(seconds=min(3600.0, 30.0 * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2))


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


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        keys.append(endpoint.previous_secret)
    return keys


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
    deliver_on_commit(list(following))


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
    deliver_on_commit([again.pk])
    return again
