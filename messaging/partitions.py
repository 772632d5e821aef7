"""Texts partitioned by month on PostgreSQL: the partitions, made ahead and dropped when past.

``messaging_message`` is range-partitioned on ``created_at`` (migration 0021; docs/ARCHITECTURE.md
"Partitioning texts by month"): one partition per calendar month (UTC), ``messaging_message_pYYYY_MM``,
and ``messaging_message_default`` for a text no month partition takes (it should stay empty:
``/metrics``' ``textdesk_texts_default_partition`` is 1 when it holds any text). Each partition's indexes are
named after the parent's with the partition's suffix (``message_org_created_p2026_12``), so a plan
says which index it used.

Uniqueness a partitioned table cannot hold (a unique index must include ``created_at``) is kept
exact by three small tables a trigger writes in the statement that writes the text:
``messaging_message_sid`` (``message_provider_sid_unique``), ``messaging_message_idempotency_key``
(``message_idempotency_key_unique_per_org``) and ``messaging_message_confirms_event``
(``messaging_message_confirms_event_id_key``): a duplicate raises the same ``IntegrityError`` in the
same statement as before, under the same constraint name.

SQLite (``make run``) has one plain table: every function here does nothing there.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections, models

logger = logging.getLogger(__name__)

PARENT = "messaging_message"
DEFAULT = f"{PARENT}_default"
MONTHS_AHEAD = 3
_MONTH = re.compile(rf"^{PARENT}_p(\d{{4}})_(\d{{2}})$")
# The side tables of the uniqueness the partitioned table cannot hold (created by migration 0021).
KEY_TABLES = ("messaging_message_sid", "messaging_message_idempotency_key", "messaging_message_confirms_event")


@dataclass(frozen=True)
class MonthPartition:
    name: str
    start: dt.datetime  # inclusive, UTC midnight of the month's first day
    end: dt.datetime  # exclusive: the next month's start


def month_start(moment: dt.datetime | dt.date) -> dt.datetime:
    """The first instant (UTC) of ``moment``'s month."""
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC)


def next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def month_partition(moment: dt.datetime | dt.date) -> MonthPartition:
    start = month_start(moment)
    return MonthPartition(f"{PARENT}_p{start:%Y_%m}", start, next_month(start))


def months(first: dt.datetime, last: dt.datetime) -> Iterator[MonthPartition]:
    """Each month from ``first``'s to ``last``'s, both included."""
    start, stop = month_start(first), month_start(last)
    while start <= stop:
        yield month_partition(start)
        start = next_month(start)


def partitioned(using: str = "default") -> bool:
    """Whether ``messaging_message`` is a partitioned table here (PostgreSQL after migration 0021)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [PARENT])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def month_partitions(using: str = "default") -> list[MonthPartition]:
    """The month partitions that exist, oldest first (the DEFAULT partition is not one)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = [month_partition(dt.date(int(m[1]), int(m[2]), 1)) for name in names if (m := _MONTH.match(name))]
    return sorted(found, key=lambda p: p.start)


def partition_create(cursor: Any, month: MonthPartition) -> bool:
    """``CREATE TABLE IF NOT EXISTS … PARTITION OF`` for one month, its indexes named after the
    parent's; False when it exists already, or when the DEFAULT partition holds texts of that month
    (PostgreSQL would refuse: those are moved by hand, docs/ARCHITECTURE.md)."""
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [month.name])
    if cursor.fetchone()[0]:
        return False
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s)", [month.start, month.end]
    )
    if cursor.fetchone()[0]:
        logger.error("texts of %s are in %s: its partition cannot be created until they are moved", month.name, DEFAULT)
        return False
    # Bounds written in (DDL takes no parameters); both are ``datetime``s this module made.
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {month.name} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{month.start.isoformat()}') TO ('{month.end.isoformat()}')"
    )
    indexes_name(cursor, month.name)
    return True


def indexes_name(cursor: Any, partition: str) -> None:
    """Rename a partition's indexes (PostgreSQL names them after their columns) to the parent
    index's name with the partition's suffix: ``message_org_created`` → ``message_org_created_p2026_12``."""
    suffix = partition[len(PARENT) :]
    cursor.execute(
        """SELECT child.relname, parent.relname FROM pg_index x
           JOIN pg_class child ON child.oid = x.indexrelid
           JOIN pg_inherits i ON i.inhrelid = child.oid
           JOIN pg_class parent ON parent.oid = i.inhparent
           WHERE x.indrelid = %s::regclass""",
        [partition],
    )
    for child, parent in cursor.fetchall():
        wanted = f"{parent}{suffix}"[:63]
        if child != wanted:
            cursor.execute(f'ALTER INDEX "{child}" RENAME TO "{wanted}"')


def message_partitions_ensure(
    *,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
    months_ahead: int = MONTHS_AHEAD,
    using: str = "default",
) -> list[str]:
    """Create the month partitions from ``since``'s month (default: ``now``'s) to ``months_ahead``
    months after ``now``'s; idempotent. The names created (none on SQLite or an unpartitioned table)."""
    if not partitioned(using):
        return []
    now = now or dt.datetime.now(dt.UTC)
    last = month_start(now)
    for _ in range(months_ahead):
        last = next_month(last)
    created = []
    with connections[using].cursor() as cursor:
        for month in months(since or now, last):
            if partition_create(cursor, month):
                created.append(month.name)
    if created:
        logger.info("text partitions created: %s", ", ".join(created))
    return created


def default_partition_used(*, using: str = "default") -> bool | None:
    """Whether the DEFAULT partition holds a text (one probe, nothing counted): False when every text
    has its month's partition; None where texts are not partitioned."""
    if not partitioned(using):
        return None
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT})")
        return bool(cursor.fetchone()[0])


def partition_drop(cursor: Any, month: MonthPartition, *, using: str = "default") -> None:
    """Drop a past month's partition whole, doing first what deleting its texts one by one would do:
    the keys pointing at them (CASCADE or SET_NULL, as Django does on ``.delete()``), their rows in
    the key tables, and ``texts_partition_dropping`` for what counts them (the outbox ledger). In
    the caller's transaction; the caller exported the rows and holds a lock on the partition."""
    from .models import Message
    from .signals import texts_partition_dropping

    for field in references_to_texts():
        table, column = field.model._meta.db_table, field.column
        ids = f"SELECT id FROM {month.name}"
        if field.remote_field.on_delete is models.CASCADE:
            cursor.execute(f'DELETE FROM {table} WHERE "{column}" IN ({ids})')
        else:  # SET_NULL: ``partition_droppable`` refuses any other
            cursor.execute(f'UPDATE {table} SET "{column}" = NULL WHERE "{column}" IN ({ids})')
    cursor.execute(f"DELETE FROM messaging_message_sid k USING {month.name} m WHERE k.message_id = m.id")
    cursor.execute(f"DELETE FROM messaging_message_idempotency_key k USING {month.name} m WHERE k.message_id = m.id")
    cursor.execute(f"DELETE FROM messaging_message_confirms_event k USING {month.name} m WHERE k.message_id = m.id")
    texts_partition_dropping.send(sender=Message, table=month.name, using=using)
    # Deferred foreign-key checks still pending on the partition's rows (written in this transaction)
    # would forbid the drop: run them now.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {month.name}")
    cursor.execute(f"DROP TABLE {month.name}")
    logger.info("text partition %s dropped", month.name)


def _references_to(model: Any) -> list[Any]:
    """Every key pointing at ``model``, ``related_name="+"`` ones included (``Meta.related_objects``
    leaves those out; Django's delete follows them)."""
    from django.apps import apps

    return [
        field
        for other in apps.get_models()
        for field in other._meta.get_fields()
        if field.concrete and field.is_relation and field.related_model is model
    ]


def references_to_texts() -> list[Any]:
    from .models import Message

    return _references_to(Message)


def partition_droppable() -> bool:
    """Whether every key pointing at a text is one ``partition_drop`` knows how to follow (CASCADE
    to a model nothing points at, or SET_NULL); a new one made otherwise keeps texts to row deletes."""
    for field in references_to_texts():
        on_delete = field.remote_field.on_delete
        if on_delete is models.SET_NULL:
            continue
        if on_delete is not models.CASCADE or _references_to(field.model):
            return False
    return True


def after_bulk_load(cursor: Any) -> None:
    """After rows were loaded with triggers off (``bench/scale_data.py``, the plan guard): the key
    tables filled from the texts, and every partition's indexes named (a load that drops and
    recreates the parent's indexes leaves PostgreSQL's names on the partitions)."""
    cursor.execute(
        "INSERT INTO messaging_message_sid SELECT provider_sid, id FROM messaging_message "
        "WHERE provider_sid IS NOT NULL ON CONFLICT DO NOTHING"
    )
    cursor.execute(
        "INSERT INTO messaging_message_idempotency_key SELECT organization_id, idempotency_key, id "
        "FROM messaging_message WHERE idempotency_key IS NOT NULL ON CONFLICT DO NOTHING"
    )
    cursor.execute(
        "INSERT INTO messaging_message_confirms_event SELECT confirms_event_id, id FROM messaging_message "
        "WHERE confirms_event_id IS NOT NULL ON CONFLICT DO NOTHING"
    )
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        [PARENT],
    )
    for (name,) in cursor.fetchall():
        indexes_name(cursor, name)
