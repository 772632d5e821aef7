from __future__ import annotations

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "messaging"
    verbose_name = "Texting"

    def ready(self) -> None:
        # The CRM's domain events (interactions/signals.py): a saved number gets its line type looked up,
        # a person's opt-out gets its one confirmation text (messaging/services/confirmation.py).
        from . import receivers  # noqa: F401
