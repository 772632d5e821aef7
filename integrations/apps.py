from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = "Integrations (webhooks and API keys)"

    def ready(self) -> None:
        # The domain signals of the apps below (texts, consent, tasks) become outbound webhooks.
        from . import receivers  # noqa: F401
