"""Print the beat heartbeat's age; exit 1 when it is late or missing (the beat container's health check)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.services import heartbeat_age, heartbeat_state


class Command(BaseCommand):
    help = "Show how long ago the beat schedule last ran; fail when it is older than BEAT_HEARTBEAT_MAX_AGE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-age", type=float, default=None, help="seconds (default: the BEAT_HEARTBEAT_MAX_AGE setting)"
        )

    def handle(self, *args: Any, max_age: float | None, **options: Any) -> None:
        max_age = max_age or settings.BEAT_HEARTBEAT_MAX_AGE
        age = heartbeat_age()
        state = heartbeat_state(age, max_age=max_age)
        if state == "missing":
            raise CommandError("beat heartbeat: missing (the beat schedule has not run yet)")
        message = f"beat heartbeat: {state}, {age:.0f} s ago (late after {max_age:.0f} s)"
        if state != "ok":
            raise CommandError(message)
        self.stdout.write(message)
