"""Texts past the retention period (``MESSAGE_RETENTION_DAYS``), written to an export file, then deleted.

Off unless set. Run by ``ops.tasks.housekeeping`` (beat, once a day): each organization's texts older
than the period, oldest first, in batches; each batch is written to a gzipped JSON Lines file in
``MESSAGE_RETENTION_EXPORT_DIR`` (one object per text, every column but the search vector) and
flushed to disk before the batch is deleted, so a text is never deleted before it is exported. A
run stopped between the two exports that batch again next time (in the next file): at least once.

On PostgreSQL, where texts are partitioned by month (``messaging.partitions``), a month entirely
past the period whose texts all go is exported the same way and dropped whole, first.

Kept whatever their age: texts still on their way (scheduled, queued, sending, needing
reconciliation), a flagged request not to be texted that no agent has resolved, and the
confirmation text of an opt-out (the evidence it was sent; one per revocation).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from interactions.models import Organization

from ..models import Message, MessageMedia
from ..partitions import MonthPartition, month_partitions, partition_drop, partition_droppable, partitioned

RETENTION_BATCH = 2_000
RETENTION_MAX_PER_RUN = 200_000  # the rest waits for the next day's run
FINAL = (
    Message.Status.SENT,
    Message.Status.DELIVERED,
    Message.Status.UNDELIVERED,
    Message.Status.FAILED,
    Message.Status.CANCELED,
    Message.Status.RECEIVED,
)


NAMES = [f.attname for f in Message._meta.concrete_fields if f.name != "search"]


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # phone numbers: their E.164 text


def _expired(*, organization_id: int, cutoff: datetime) -> Any:
    waiting_flag = Q(flagged_opt_out_request=True, flag_dismissed_at__isnull=True)
    return (
        Message.objects.filter(organization_id=organization_id, created_at__lt=cutoff, status__in=FINAL)
        .exclude(waiting_flag)
        .filter(confirms_event__isnull=True)
        .order_by("created_at", "id")
    )


def messages_retention_purge(
    *, now: datetime | None = None, days: int | None = None, directory: Path | str | None = None
) -> int:
    """Export, then delete, the texts older than ``days`` (``MESSAGE_RETENTION_DAYS``; 0: off); how many."""
    days = settings.MESSAGE_RETENTION_DAYS if days is None else days
    if not days:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    folder = Path(directory or settings.MESSAGE_RETENTION_EXPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"texts-before-{cutoff:%Y%m%d}-run-{now:%Y%m%dT%H%M%S%f}.jsonl.gz"
    removed = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as zipped:

        def write(batch: list[dict]) -> None:
            _with_picture_ids(batch)
            zipped.write("".join(json.dumps(row, cls=_Encoder) + "\n" for row in batch).encode())
            zipped.flush()  # the batch is on disk before it is deleted
            raw.flush()
            os.fsync(raw.fileno())

        removed += _past_partitions_drop(cutoff=cutoff, write=write)
        for organization_id in Organization.objects.order_by("pk").values_list("pk", flat=True):
            while removed < RETENTION_MAX_PER_RUN:
                batch = list(_expired(organization_id=organization_id, cutoff=cutoff).values(*NAMES)[:RETENTION_BATCH])
                if not batch:
                    break
                write(batch)
                with transaction.atomic():
                    Message.objects.filter(pk__in=[row["id"] for row in batch]).delete()
                removed += len(batch)
    if not removed:
        path.unlink()
    return removed


def _kept_in(month: MonthPartition) -> bool:
    """Whether the month holds a text the retention keeps whatever its age (see the module's docstring)."""
    expired = Q(status__in=FINAL, confirms_event__isnull=True) & ~Q(
        flagged_opt_out_request=True, flag_dismissed_at__isnull=True
    )
    return Message.objects.filter(created_at__gte=month.start, created_at__lt=month.end).exclude(expired).exists()


def _past_partitions_drop(*, cutoff: datetime, write: Callable[[list[dict]], None]) -> int:
    """PostgreSQL: each month partition entirely before ``cutoff`` holding only texts the retention
    removes is exported whole (every organization's texts, by id in batches), then dropped
    (``partition_drop``): no row deletes. A month with a kept text is left to the row deletes. Not
    bounded by ``RETENTION_MAX_PER_RUN``: a month goes whole or not at all."""
    if not partitioned() or not partition_droppable():
        return 0
    removed = 0
    for month in month_partitions():
        if month.end > cutoff:
            break
        if _kept_in(month):
            continue
        exported, last = 0, 0
        texts = Message.objects.filter(created_at__gte=month.start, created_at__lt=month.end).order_by("id")
        while batch := list(texts.filter(id__gt=last).values(*NAMES)[:RETENTION_BATCH]):
            write(batch)
            exported, last = exported + len(batch), batch[-1]["id"]
        with transaction.atomic(), connection.cursor() as cursor:
            # Writers wait (a late status callback), readers do not; then the month is checked again.
            cursor.execute(f"LOCK TABLE {month.name} IN EXCLUSIVE MODE")
            cursor.execute(f"SELECT count(*) FROM {month.name}")
            if cursor.fetchone()[0] != exported or _kept_in(month):
                continue  # changed while exported: the rows are in the file; the next run exports again
            partition_drop(cursor, month)
        removed += exported
    return removed


def _with_picture_ids(batch: list[dict]) -> None:
    """Each exported text names its pictures (``media``: ids in sending order). The pictures
    themselves are kept: only the text and its attachment rows are deleted."""
    pictures: dict[int, list[int]] = {}
    for message_id, media_id in (
        MessageMedia.objects.filter(message_id__in=[row["id"] for row in batch])
        .order_by("message_id", "position")
        .values_list("message_id", "media_id")
    ):
        pictures.setdefault(message_id, []).append(media_id)
    for row in batch:
        row["media"] = pictures.get(row["id"], [])
