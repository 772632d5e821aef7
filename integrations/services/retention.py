"""The webhook history forgotten after ``WEBHOOK_RETENTION_DAYS``, in batches."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from ..models import WebhookAttempt, WebhookDelivery, WebhookEvent


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
