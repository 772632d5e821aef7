"""Search that an index serves on PostgreSQL, with the embedded database's plain fallback.

PostgreSQL answers word search from a stored ``tsvector`` column with a GIN index, and fragment
search (names, numbers) from ``pg_trgm`` GIN indexes, which serve ``LIKE '%…%'`` (Django's
``contains``, and ``icontains`` through an index on ``UPPER(column)``). SQLite, which ``make run``
uses, has neither: the ``tsvector`` column is empty there, the indexes are plain ones, and the same
searches are ``icontains`` over the rows (docs/ARCHITECTURE.md "Indexes and search").
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db import OperationalError, connections, router, transaction
from django.db.models import Index
from django.db.models.functions import Upper

logger = logging.getLogger(__name__)
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled (statement_timeout)

# The text search configuration of every stored vector and every query against it: they must agree.
SEARCH_CONFIG = "english"


class StoredSearchVector(SearchVector):
    """``to_tsvector('english', …)`` for a ``GeneratedField``; NULL on other databases (no text search there)."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, tuple[str | int, ...]]:
        return "NULL", ()


class SearchIndex(GinIndex):
    """A GIN index on PostgreSQL; elsewhere a plain index of the same name on the same columns.

    The embedded database has no GIN (nor ``gin_trgm_ops``): there the index is an ordinary one, so
    the same migrations run on both and a table SQLite rebuilds keeps building.
    """

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        expressions = [e.get_source_expressions()[0] if isinstance(e, OpClass) else e for e in self.expressions]
        return Index(*expressions, fields=list(self.fields), name=self.name).create_sql(model, schema_editor, **kwargs)


def trigram_index(*, field: str, name: str) -> SearchIndex:
    """A ``pg_trgm`` GIN index serving ``field__icontains``.

    Django writes ``icontains`` on PostgreSQL as ``UPPER(field::text) LIKE UPPER('%fragment%')``, so
    the index is on that expression: one on the bare column would not be used.
    """
    return SearchIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=name)


# --- Newest matches of a word search ---------------------------------------------------------------
#
# "The newest N texts that contain these words" has two good plans and PostgreSQL's planner can only
# pick between them from its estimate of how many rows match, which for a word it never sampled is a
# guess (at most 0.5 % of the table): at 10 M texts it walked every text newest first looking for a
# word 169 of them contain (85 s). So the choice is made here, from the same estimate read with
# ``EXPLAIN`` (a millisecond, no rows read), by what each plan costs:
#
# - few matches: the GIN index first, every match of the organization (one bitmap scan, rows read
#   in table order), then the newest N of them sorted: cost grows with the number of matches;
# - many matches: the planner's own plan, which walks ``(organization, created_at)`` newest first
#   and stops at the Nth match: cost grows with N ÷ the share of texts that match.
#
# They cost the same at about sqrt(N · texts) matches: measured at 2 M texts, a row reached walking
# the index cost 8.4 µs and one read by the bitmap scan 8.9 µs ("unit hello", 33,727 matches: 234 ms
# walking, 300 ms GIN first); below that the GIN plan is taken. Either way the result is the same
# rows, the newest N matches. The worst case is a word right at that count: about 2 · sqrt(N · texts)
# rows read (250 ms at 2 M texts, 600 ms expected at 10 M); a rare or a common word reads a few
# hundred. If the plan picked runs past ``SEARCH_BUDGET_MS`` (the statistics were stale: a word
# became common since the last ANALYZE, or stopped being used), it is cancelled and the other plan
# runs, to the end.

SEARCH_BUDGET_MS = 500
WALK_COST = 1.0  # a row reached walking the index newest first ÷ a row read by the bitmap scan (measured)


def newest_matches(*, model: Any, scope: tuple[str, int], query: str, newest: int) -> list[int]:
    """Ids of the ``newest`` rows of ``model`` whose ``search`` vector matches ``query`` (the words of
    a search box: ``websearch_to_tsquery``), among the rows whose ``scope`` column equals its value,
    newest first (``created_at``, then ``id``). PostgreSQL only: the caller holds SQLite's fallback.

    The estimate and the read run on the database the router reads ``model`` from now: the replica
    inside ``replica_ok()`` (core/replica.py), as the queryset the caller builds from these ids. A
    plain ``connection.cursor()`` would be the primary's, whatever the caller marked.
    """
    using = router.db_for_read(model)
    table, (column, value) = model._meta.db_table, scope
    words = (SEARCH_CONFIG, query)
    matching = f'"{column}" = %s AND search @@ websearch_to_tsquery(%s::regconfig, %s)'
    gin_first = (
        f'WITH matches AS MATERIALIZED (SELECT id, created_at FROM "{table}" WHERE {matching}) '
        "SELECT id FROM matches ORDER BY created_at DESC, id DESC LIMIT %s"
    )
    planned = f'SELECT id FROM "{table}" WHERE {matching} ORDER BY created_at DESC, id DESC LIMIT %s'
    params = [value, *words, newest]
    rows, matches = _estimated_rows(
        f'SELECT 1 FROM "{table}" WHERE "{column}" = %s UNION ALL SELECT 1 FROM "{table}" WHERE {matching}',
        [value, value, *words],
        using=using,
    )
    first, other = (gin_first, planned) if matches < (WALK_COST * newest * rows) ** 0.5 else (planned, gin_first)
    found = _ids_within(first, params, budget_ms=SEARCH_BUDGET_MS, using=using)
    return found if found is not None else _ids(other, params, using=using)


def _estimated_rows(sql: str, params: list[Any], *, using: str) -> list[float]:
    """The planner's estimate of the rows of each branch of ``sql``, a ``UNION ALL`` (``EXPLAIN``: planned, not run)."""
    with connections[using].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    append = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return [float(branch["Plan Rows"]) for branch in append["Plans"]]


def _ids(sql: str, params: list[Any], *, using: str) -> list[int]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _ids_within(sql: str, params: list[Any], *, budget_ms: int, using: str) -> list[int] | None:
    """``_ids``, cancelled by PostgreSQL after ``budget_ms`` (``None`` then).

    The limit is ``SET LOCAL`` in a transaction, which ends it; inside a caller's transaction (a
    savepoint then) it is put back before the savepoint is released, so nothing after this runs under it.
    """
    connection = connections[using]
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                [f"{budget_ms}ms"],
            )
            before = cursor.fetchone()[0]
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()]
            if not outermost:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])
            return ids
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != QUERY_CANCELED:
            raise
        logger.info("search: over %d ms, the other plan runs", budget_ms)
        return None
