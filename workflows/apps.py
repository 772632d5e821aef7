from __future__ import annotations

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workflows"
    verbose_name = "Follow-up workflows"

    def ready(self) -> None:
        # The CRM's domain signals (conversions, payments, opt-outs) start and end enrollments.
        from . import receivers  # noqa: F401
