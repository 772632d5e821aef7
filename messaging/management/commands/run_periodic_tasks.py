"""Run Celery beat's schedule in this process, for the embedded setup of ``make run``.

In production, ``celery beat`` publishes these tasks to the broker for the workers. ``make run``
has neither broker nor worker (tasks run eagerly), so without this nothing would release
scheduled texts or materialise workflow steps while you click around the demo.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from celery import current_app as app  # the project's app (config/celery.py): apps never import config
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone


class Command(BaseCommand):
    help = "Run the periodic tasks of CELERY_BEAT_SCHEDULE in-process (for `make run`; production uses celery beat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run every task once and exit")
        parser.add_argument("--tick", type=float, default=5.0, help="seconds between checks of the schedule")

    def handle(self, *args: Any, once: bool, tick: float, **options: Any) -> None:
        app.loader.import_default_modules()  # autodiscover the apps' tasks, as a worker does at start
        entries = dict(settings.CELERY_BEAT_SCHEDULE)
        last_run: dict[str, datetime] = {}
        self.stdout.write(f"Running {len(entries)} periodic tasks in-process: {', '.join(entries)}")
        while True:
            now = timezone.now()
            for name, entry in entries.items():
                schedule = entry["schedule"]
                if hasattr(schedule, "total_seconds"):  # a timedelta
                    due = name not in last_run or (now - last_run[name]) >= schedule
                else:  # a celery schedule (crontab)
                    due = name not in last_run or schedule.is_due(last_run[name]).is_due
                if due or once:
                    last_run[name] = now
                    try:
                        app.tasks[entry["task"]].apply(throw=True)
                    except Exception as exc:
                        self.stderr.write(f"{entry['task']} failed: {exc}")
            if once:
                return
            time.sleep(tick)
