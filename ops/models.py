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


class OutboxTally(models.Model):
    """The outbox's cluster-wide totals, counted by one periodic task (``ops.tasks.outbox_tally``).

    ``/metrics`` exports this row instead of counting every outbound text at each scrape in every
    web container: the count runs once a minute for the whole cluster, and each scrape reads one
    small row. ``totals`` is ``{"queued": n, "sent": n, "failed": {reason: n}, "by_status": {status: n}}``.
    """

    name = models.CharField(max_length=40, unique=True)
    totals = models.JSONField(default=dict)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
