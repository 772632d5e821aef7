"""Celery tasks of the outbound webhooks: thin, the services decide."""

from __future__ import annotations

from celery import shared_task

from .services import deliveries_due, delivery_attempt, outbox_drain, webhook_history_purge


@shared_task(ignore_result=True)
def deliver_webhook(delivery_id: int, lease: str | None = None) -> str:
    """One attempt of one delivery (a failure schedules the next attempt; the sweep below sends it).

    Runs on the ``webhooks`` queue (``CELERY_TASK_ROUTES``): its own workers, so a slow receiver
    never takes a worker that sends texts.
    """
    return delivery_attempt(delivery_id=delivery_id, lease=lease)


@shared_task(ignore_result=True)
def drain_webhook_outbox() -> int:
    """Make the events recorded on the send path, and their deliveries (``outbox_drain``).

    On the ``webhooks`` queue, as the deliveries: the texts' workers never render an event.
    Published once per burst of recorded events (the ``webhooks:drain`` gate) and by the sweep below.
    """
    return outbox_drain()


@shared_task(ignore_result=True)
def deliver_due_webhooks() -> int:
    """Hand every delivery whose next attempt is due to the workers (beat runs this every 30 seconds),
    and drain the outbox (the safety net for an event whose drain was never published)."""
    drain_webhook_outbox.delay()
    due = deliveries_due()
    for pk, lease in due:
        deliver_webhook.delay(pk, lease)
    return len(due)


@shared_task(ignore_result=True)
def purge_webhook_history() -> dict[str, int]:
    """Forget attempts, finished deliveries and events older than ``WEBHOOK_RETENTION_DAYS`` (beat, hourly)."""
    return webhook_history_purge()
