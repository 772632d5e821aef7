from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running Textdesk in production: deploy checks, the beat heartbeat, health and metrics."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from . import celery_metrics, checks  # noqa: F401  (checks registers the deploy checks)

        celery_metrics.connect()

        from messaging.signals import texts_partition_dropping

        from .receivers import outbox_deltas_for_dropped_partition

        texts_partition_dropping.connect(outbox_deltas_for_dropped_partition, dispatch_uid="ops-outbox-partition-drop")
