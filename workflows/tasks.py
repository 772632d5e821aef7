"""Celery tasks of the workflows: thin, like messaging's."""

from __future__ import annotations

from celery import shared_task

from .materialise import workflows_materialise


@shared_task(ignore_result=True)
def materialise_workflows() -> int:
    """Run the workflow steps that came due (beat, every minute); overlapping runs skip each other's rows."""
    return workflows_materialise().steps
