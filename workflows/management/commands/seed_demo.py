"""``seed_demo`` lives in the top layer: it loads every app's demo data, workflows last."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from interactions.demo import DEMO_PASSWORD, seed_interactions
from messaging.demo import seed_messaging
from workflows.demo import seed_workflows


class Command(BaseCommand):
    help = "Load demo data: one organization, three facilities, users agent and manager. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        org = seed_interactions()
        seed_messaging(org)
        seed_workflows(org)
        self.stdout.write(f"Demo data ready for {org.name}. Sign in as agent or manager, password {DEMO_PASSWORD}.")
