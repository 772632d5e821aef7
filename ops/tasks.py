"""Celery tasks of operations."""

from __future__ import annotations

from celery import shared_task

from .services import heartbeat_record, housekeeping_run, outbox_tally_record, webhook_backlog_record


@shared_task(ignore_result=True)
def beat_heartbeat() -> None:
    """Record the beat heartbeat (beat publishes it every ``BEAT_HEARTBEAT_SECONDS``, a worker runs it)."""
    heartbeat_record()


@shared_task(ignore_result=True)
def outbox_tally() -> None:
    """Count the outbox and the webhook backlog for ``/metrics`` (every ``OUTBOX_TALLY_SECONDS``: once for the
    cluster, not per scrape)."""
    outbox_tally_record()
    webhook_backlog_record()


@shared_task(ignore_result=True)
def housekeeping() -> dict[str, int]:
    """Purge what only grows (``HOUSEKEEPING_PURGES``: old texts, sign-in records, heartbeats), once a day."""
    return housekeeping_run()
