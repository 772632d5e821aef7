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


class OutboxDelta(models.Model):
    """A change to the outbox's totals not yet added into ``OutboxTally``: written by the database.

    On PostgreSQL a trigger on ``messaging_message`` (migration ``ops.0003``) writes one row per side
    of every change that moves an outbound text's count (inserted, deleted, its status, error code,
    ``queued_at`` or ``sent_at`` set): ``texts`` is -1 for the state it left and +1 for the one it
    entered. ``ops.services.outbox_tally_record`` deletes the rows it adds in, in the statement that
    reads them, so a change committed while the tally runs is added by the next run, never twice.
    """

    status = models.CharField(max_length=24)
    error_code = models.CharField(max_length=32, blank=True)
    texts = models.IntegerField()
    queued = models.IntegerField()
    sent = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.texts:+d} {self.status} {self.error_code}".strip()
