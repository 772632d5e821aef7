"""Celery tasks: thin wrappers that load ids, call a service and decide on retries."""

from __future__ import annotations

from celery import shared_task

from . import services, workflows


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def send_message(self, message_id: int) -> None:
    """Send one outbound text; safe to run twice (the claim skips a text already past ``queued``)."""
    outcome = services.message_send(message_id=message_id)
    if outcome is not None and outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@shared_task(ignore_result=True)
def release_scheduled() -> int:
    return services.messages_release_scheduled()


@shared_task(ignore_result=True)
def requeue_stuck() -> int:
    return services.messages_requeue_stuck()


@shared_task(ignore_result=True)
def materialise_workflows() -> int:
    """Run the workflow steps that came due (beat, every minute); overlapping runs skip each other's rows."""
    return workflows.workflows_materialise().steps


@shared_task(ignore_result=True)
def purge_idempotency_keys() -> int:
    """Forget API ``Idempotency-Key``s older than 24 hours."""
    from .idempotency import idempotency_keys_purge

    return idempotency_keys_purge()
