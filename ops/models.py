from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """The last time a periodic job ran (``beat``: the beat schedule, published and run by a worker).

    In the database rather than Redis so ``make run`` (SQLite, no Redis; the schedule runs in
    ``run_periodic_tasks``, another process) and production read it the same way.
    """

    name = models.CharField(max_length=40, unique=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
