"""Celery tasks of operations."""

from __future__ import annotations

from celery import shared_task

from .services import heartbeat_record


@shared_task(ignore_result=True)
def beat_heartbeat() -> None:
    """Record the beat heartbeat (beat publishes it every ``BEAT_HEARTBEAT_SECONDS``, a worker runs it)."""
    heartbeat_record()
