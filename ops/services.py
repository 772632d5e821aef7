"""The beat heartbeat and the outbox tally: written by periodic tasks, read by readiness and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from .models import Heartbeat, OutboxTally

BEAT = "beat"


def heartbeat_record(*, name: str = BEAT, now: datetime | None = None) -> datetime:
    """Record that ``name`` ran now (one row per name, overwritten)."""
    now = now or timezone.now()
    Heartbeat.objects.update_or_create(name=name, defaults={"at": now})
    return now


def heartbeat_age(*, name: str = BEAT, now: datetime | None = None) -> float | None:
    """Seconds since ``name`` last ran, or ``None`` if it never did."""
    at = Heartbeat.objects.filter(name=name).values_list("at", flat=True).first()
    if at is None:
        return None
    return max(0.0, ((now or timezone.now()) - at).total_seconds())


def heartbeat_state(age: float | None, *, max_age: float | None = None) -> str:
    """``ok``, ``late`` (older than ``max_age``, default ``BEAT_HEARTBEAT_MAX_AGE``) or ``missing`` (never ran)."""
    if age is None:
        return "missing"
    return "ok" if age <= (max_age or settings.BEAT_HEARTBEAT_MAX_AGE) else "late"


OUTBOX = "outbox"


def outbox_count() -> dict[str, Any]:
    """Every outbound text counted: ever queued, ever sent, failed by reason, and by current status.

    Reads the whole outbox (two grouped queries): run by the periodic ``outbox_tally``, once for the
    cluster, never per scrape.
    """
    from messaging.models import Message  # ops watches the apps below it; read only here

    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    totals = outbound.aggregate(
        queued=Count("pk", filter=Q(queued_at__isnull=False)), sent=Count("pk", filter=Q(sent_at__isnull=False))
    )
    failed: dict[str, int] = {}
    by_status: dict[str, int] = {}
    rows = outbound.values_list("status", "error_code").annotate(n=Count("pk")).order_by()
    for status, code, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        if status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
            failed[code or "unknown"] = failed.get(code or "unknown", 0) + n
    return {"queued": totals["queued"], "sent": totals["sent"], "failed": failed, "by_status": by_status}


def outbox_tally_record(*, now: datetime | None = None) -> OutboxTally:
    """Count the outbox (``outbox_count``) and keep the totals for ``/metrics``: one row, overwritten."""
    now = now or timezone.now()
    tally, _ = OutboxTally.objects.update_or_create(name=OUTBOX, defaults={"totals": outbox_count(), "at": now})
    return tally


def outbox_tally() -> OutboxTally:
    """The latest outbox totals; counted now only if no periodic count ever ran (a fresh install)."""
    return OutboxTally.objects.filter(name=OUTBOX).first() or outbox_tally_record()


WEBHOOKS = "webhooks"


def webhook_backlog_count(*, now: datetime | None = None) -> dict[str, Any]:
    """Webhook deliveries waiting: how many, on active and on switched-off endpoints, and when the oldest
    waiting on an active endpoint was made (deliveries on a switched-off endpoint wait on purpose)."""
    from integrations.models import WebhookDelivery  # ops watches the apps below it; read only here

    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    counts = pending.aggregate(
        active=Count("pk", filter=Q(endpoint__active=True)), switched_off=Count("pk", filter=Q(endpoint__active=False))
    )
    oldest = pending.filter(endpoint__active=True).order_by("created_at").values_list("created_at", flat=True).first()
    return {"pending": counts, "oldest_pending_at": oldest.isoformat() if oldest else None}


def webhook_backlog_record(*, now: datetime | None = None) -> OutboxTally:
    """Count the webhook backlog (``webhook_backlog_count``) for ``/metrics``: once for the cluster, one row."""
    now = now or timezone.now()
    tally, _ = OutboxTally.objects.update_or_create(
        name=WEBHOOKS, defaults={"totals": webhook_backlog_count(now=now), "at": now}
    )
    return tally


def webhook_backlog() -> OutboxTally:
    """The latest webhook backlog; counted now only if no periodic count ever ran (a fresh install)."""
    return OutboxTally.objects.filter(name=WEBHOOKS).first() or webhook_backlog_record()
