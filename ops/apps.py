from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running Textdesk in production: deploy checks, the beat heartbeat, health and metrics."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from . import celery_metrics, checks  # noqa: F401  (checks registers the deploy checks)

        celery_metrics.connect()
