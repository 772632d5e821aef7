"""Webhook endpoints: registered, changed, their signing secret rotated, and a test event sent to one."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import Organization

from ..destinations import destination_refusal
from ..models import TEST_EVENT, EventType, WebhookDelivery, WebhookEndpoint, WebhookEvent
from ..signing import SECRET_PREFIX
from .publishing import deliver_on_commit

SECRET_GRACE = timedelta(hours=24)  # a rotated-out secret keeps signing this long


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
        deliver_on_commit(WebhookDelivery.objects.filter(endpoint=locked, status=WebhookDelivery.Status.PENDING))
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


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to this endpoint only, whatever events it subscribes to: it goes
    through the normal pipeline (signed, retried, every attempt logged), so the integrator can check
    their receiver end to end. The delivery is returned (its id is in the answer, to follow it)."""
    from ..events import test_event_data

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
    deliver_on_commit([delivery.pk])
    return delivery
