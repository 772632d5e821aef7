"""``seed_demo`` lives in the top layer: it loads every app's demo data, workflows last."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from interactions.demo import DEMO_PASSWORD, seed_interactions
from messaging.backends import backend_is_paid
from messaging.demo import seed_messaging
from workflows.demo import seed_workflows


class Command(BaseCommand):
    help = (
        "Load demo data: one organization, three facilities, users agent and manager. Safe to run again. "
        "Refused when SMS_BACKEND is a paid provider (twilio): the demo's workflows text its fictional people."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if backend_is_paid():
            raise CommandError(
                f"seed_demo loads fictional people whose workflows text them, and SMS_BACKEND={settings.SMS_BACKEND} "
                "would send those texts (and look their numbers up) through a paid provider. "
                "Seed with SMS_BACKEND=console (make run does)."
            )
        # One transaction: what the seeded rows queue after commit (a line-type lookup per number)
        # sees the demo's line types already stored, so no paid provider API is ever called.
        with transaction.atomic():
            org = seed_interactions()
            seed_messaging(org)
            seed_workflows(org)
        self.stdout.write(f"Demo data ready for {org.name}. Sign in as agent or manager, password {DEMO_PASSWORD}.")
