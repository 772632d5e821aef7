"""Celery tasks: thin wrappers that load ids, call a service and decide on retries."""

from __future__ import annotations

import math

from celery import Task, shared_task

from . import services


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def send_message(self: Task, message_id: int) -> None:
    """Send one outbound text; safe to run twice (the claim skips a text already past ``queued``).

    ``acks_late``: a worker that dies mid-task leaves the task to be delivered again, and the
    claim makes that second delivery a no-op for a text already claimed. A throttled text is
    retried shortly without using up an attempt; a retryable provider error with backoff.
    """
    # Run eagerly (make run, tests) there is no later: wait for the rate limit instead.
    throttle_wait = math.inf if self.request.is_eager else None
    outcome = services.message_send(message_id=message_id, throttle_wait=throttle_wait)
    if outcome is not None and outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@shared_task(ignore_result=True)
def release_scheduled() -> int:
    """Queue scheduled texts whose time has come (every 30 s)."""
    return services.messages_release_scheduled()


@shared_task(ignore_result=True)
def requeue_stuck() -> int:
    """Queue again texts stuck in ``queued`` (every minute)."""
    return services.messages_requeue_stuck()


@shared_task(ignore_result=True)
def reconcile_stuck() -> int:
    """Settle texts stuck in ``sending`` or marked ``needs_reconciliation`` against the provider (every minute)."""
    return services.messages_reconcile_stuck()


@shared_task(ignore_result=True)
def purge_idempotency_keys() -> int:
    """Forget API ``Idempotency-Key``s older than 24 hours."""
    from .idempotency import idempotency_keys_purge

    return idempotency_keys_purge()


@shared_task(ignore_result=True)
def text_partitions_ahead() -> list[str]:
    """The month partitions of texts for this month and the next three (PostgreSQL; idempotent)."""
    from .partitions import message_partitions_ensure

    return message_partitions_ensure()


@shared_task(bind=True, max_retries=5, ignore_result=True)
def lookup_line_type(self: Task, phone_number_id: int) -> None:
    """Look up the line type of a number just added; a failed lookup is retried with backoff.

    After the last retry the number waits for ``lookup_line_types_pending``. Texting never waits for it.
    """
    from interactions.models import PhoneNumber

    from .backends import LineTypeLookupFailed

    phone = PhoneNumber.objects.select_related("organization").filter(pk=phone_number_id).first()
    if phone is None or not services.line_type_is_stale(phone):
        return
    try:
        services.line_type_lookup(phone_number=phone)
    except LineTypeLookupFailed as exc:
        if self.request.is_eager:  # make run: no later within the request; the periodic task retries
            return
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc


@shared_task(ignore_result=True)
def lookup_line_types_pending() -> int:
    """Look up numbers whose line type is still unknown (every 15 minutes)."""
    return services.line_types_lookup_pending()


@shared_task(bind=True, max_retries=6, ignore_result=True)
def fetch_inbound_media(self: Task, message_id: int, urls: list[str]) -> None:
    """Fetch, store and attach the pictures of a received MMS, then delete them at the provider.

    Safe to run twice (positions already attached are not fetched again). The provider
    unreachable: retried with backoff; after the last try (at once on ``make run``, eager) the
    thread says which picture was not fetched.
    """
    last_try = self.request.is_eager or self.request.retries >= (self.max_retries or 0)
    if services.inbound_media_fetch(message_id=message_id, urls=urls, last_try=last_try) and not last_try:
        raise self.retry(countdown=30 * 2**self.request.retries)
