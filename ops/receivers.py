"""What ops keeps up to date from the other apps' signals."""

from __future__ import annotations

from typing import Any

from django.db import connections


def outbox_deltas_for_dropped_partition(sender: Any, *, table: str, using: str, **kwargs: Any) -> None:
    """A month of texts dropped whole (``messaging.partitions.partition_drop``) fires no row trigger:
    write the ledger's rows the deletes would have written (``ops.0003``), one per status and code."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "INSERT INTO ops_outboxdelta (status, error_code, texts, queued, sent) "
            "SELECT status, error_code, -count(*), -count(queued_at), -count(sent_at) "
            f"FROM {table} WHERE direction = 'outbound' GROUP BY status, error_code"
        )
