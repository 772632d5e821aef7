"""The beat heartbeat and the outbox tally: written by periodic tasks, read by readiness and metrics."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import Heartbeat, OutboxTally

logger = logging.getLogger(__name__)

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
    """Bring the outbox totals for ``/metrics`` up to date: one row, overwritten.

    PostgreSQL: the changes the database recorded since the last run (``OutboxDelta``) are added in,
    and deleted in the statement that reads them; a change committed meanwhile waits for the next
    run. The first run (no totals yet) counts every text instead, in the statement that empties the
    ledger, so no change is counted twice or missed. The row is locked for the run: two runs at once
    take turns. SQLite (``make run``): every run counts the texts (``outbox_count``).
    """
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        tally, _ = OutboxTally.objects.update_or_create(name=OUTBOX, defaults={"totals": outbox_count(), "at": now})
        return tally
    with transaction.atomic():
        OutboxTally.objects.get_or_create(name=OUTBOX, defaults={"totals": {}, "at": now})
        tally = OutboxTally.objects.select_for_update().get(name=OUTBOX)
        if tally.totals:
            tally.totals = _outbox_added(tally.totals, _outbox_rows(_CONSUME_DELTAS))
        else:
            tally.totals = _outbox_added(_EMPTY, _outbox_rows(_RECOUNT))
        tally.at = now
        tally.save(update_fields=["totals", "at"])
    return tally


_EMPTY: dict[str, Any] = {"queued": 0, "sent": 0, "failed": {}, "by_status": {}}
# (status, error_code, texts, queued, sent) of the changes recorded since the last run, deleted as read.
_CONSUME_DELTAS = (
    "WITH consumed AS (DELETE FROM ops_outboxdelta RETURNING status, error_code, texts, queued, sent) "
    "SELECT status, error_code, SUM(texts), SUM(queued), SUM(sent) FROM consumed GROUP BY status, error_code"
)
# The same columns counted from every outbound text, in one statement with emptying the ledger: both
# see one snapshot, so a change is either in the count or left in the ledger, never both.
_RECOUNT = (
    "WITH emptied AS (DELETE FROM ops_outboxdelta RETURNING 1) "
    "SELECT status, error_code, COUNT(*), COUNT(queued_at), COUNT(sent_at) FROM messaging_message "
    "WHERE direction = 'outbound' GROUP BY status, error_code"
)


def _outbox_rows(sql: str) -> list[tuple[str, str, int, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [(status, code, int(n), int(queued), int(sent)) for status, code, n, queued, sent in cursor.fetchall()]


def _outbox_added(totals: dict[str, Any], rows: list[tuple[str, str, int, int, int]]) -> dict[str, Any]:
    """``totals`` (``outbox_count``'s shape) with ``rows`` added; a count back at 0 is dropped (a recount has none)."""
    from messaging.models import Message

    failed = dict(totals["failed"])
    by_status = dict(totals["by_status"])
    queued, sent = totals["queued"], totals["sent"]
    for status, code, n, queued_n, sent_n in rows:
        queued += queued_n
        sent += sent_n
        by_status[status] = by_status.get(status, 0) + n
        if status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
            failed[code or "unknown"] = failed.get(code or "unknown", 0) + n
    return {
        "queued": queued,
        "sent": sent,
        "failed": {k: v for k, v in failed.items() if v},
        "by_status": {k: v for k, v in by_status.items() if v},
    }


def outbox_tally() -> OutboxTally:
    """The latest outbox totals; counted now only if no periodic count ever ran (a fresh install)."""
    return OutboxTally.objects.filter(name=OUTBOX).first() or outbox_tally_record()


# --- Housekeeping: rows that only grow, purged once a day (``ops.tasks.housekeeping``) -----------


def heartbeats_purge(*, now: datetime | None = None) -> int:
    """Delete the heartbeats of jobs that stopped recording (``HEARTBEAT_RETENTION_DAYS``); the beat's is kept.

    One row per job name, overwritten at each run: only a job renamed or removed leaves a row that
    no longer moves. The beat's own stays, however old, so readiness keeps saying "late", not "missing".
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.HEARTBEAT_RETENTION_DAYS)
    return Heartbeat.objects.filter(at__lt=cutoff).exclude(name=BEAT).delete()[0]


def login_attempts_purge(*, now: datetime | None = None) -> int:
    """Delete django-axes' records of sign-ins older than ``LOGIN_ATTEMPT_RETENTION_DAYS``; how many.

    The failure counters (``AccessAttempt``) go only once their lockout is over too (older than
    ``AXES_COOLOFF_TIME`` as well), so a purge never lifts a lockout early.
    """
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.LOGIN_ATTEMPT_RETENTION_DAYS)
    counters = min(cutoff, now - (settings.AXES_COOLOFF_TIME or timedelta(0)))
    removed = AccessAttempt.objects.filter(attempt_time__lt=counters).delete()[0]
    removed += AccessLog.objects.filter(attempt_time__lt=cutoff).delete()[0]
    return removed + AccessFailureLog.objects.filter(attempt_time__lt=cutoff).delete()[0]


def housekeeping_run(*, now: datetime | None = None) -> dict[str, int]:
    """Run every purge of ``HOUSEKEEPING_PURGES`` (dotted paths of ``f(*, now) -> int``); how many rows each removed.

    One failing purge is logged and the others still run; the task runs again the next day.
    """
    now = now or timezone.now()
    removed: dict[str, int] = {}
    for path in settings.HOUSEKEEPING_PURGES:
        try:
            removed[path] = import_string(path)(now=now)
        except Exception:
            logger.exception("housekeeping: %s failed", path)
            removed[path] = -1
    logger.info("housekeeping: %s", removed)
    return removed


WEBHOOKS = "webhooks"


def webhook_backlog_count(*, now: datetime | None = None) -> dict[str, Any]:
    """Webhook deliveries waiting: how many, on active and on switched-off endpoints, and when the oldest
    waiting on an active endpoint was made (deliveries on a switched-off endpoint wait on purpose); and
    the events recorded on the send path and not made yet (the outbox the webhooks worker drains), with
    the oldest one's time."""
    from integrations.models import WebhookDelivery, WebhookOutbox  # ops watches the apps below it; read only here

    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    counts = pending.aggregate(
        active=Count("pk", filter=Q(endpoint__active=True)), switched_off=Count("pk", filter=Q(endpoint__active=False))
    )
    oldest = pending.filter(endpoint__active=True).order_by("created_at").values_list("created_at", flat=True).first()
    # The outbox lives seconds and is read by its primary key: the first row is the oldest.
    to_make = WebhookOutbox.objects.order_by("pk").values_list("at", flat=True).first()
    return {
        "pending": counts,
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "events_to_make": WebhookOutbox.objects.count() if to_make else 0,
        "oldest_to_make_at": to_make.isoformat() if to_make else None,
    }


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
